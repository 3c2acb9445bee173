// The injector's per-server plan (headers, arguments and names read from the configuration once): every
// call gets what the configuration gives its tool, whichever tools were called before, and a downstream
// tool named like an Object.prototype member (`constructor`, `toString`: valid tool names) gets its
// server's secrets, not the prototype's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Egress } from '../../src/egress/egress.js';
import { ConfiguredSecrets } from '../../src/secrets/injector.js';
import { SecretSources } from '../../src/secrets/sources.js';
import type { CallContext, CallMethod } from '../../src/pipeline/context.js';

const API = 'api-value-3f9c2a7d1e';
const TOOL_TOKEN = 'tool-token-8b41c06e5f';
const dir = mkdtempSync(join(tmpdir(), 'warden-injector-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const egress = new Egress();
const injector = new ConfiguredSecrets({
  secrets: { api: { source: 'env', name: 'API' }, tok: { source: 'env', name: 'TOOL_TOKEN' } },
  servers: {
    s: {
      headers: { 'X-Api': 'Key {{secret:api}}' },
      arguments: {},
      env: {},
      envMode: 'spawn',
      tools: { special: { headers: { 'X-Tool': '{{secret:tok}}' }, arguments: { token: 'tok' } } },
    },
  },
  sources: new SecretSources({ baseDir: dir, env: { API, TOOL_TOKEN }, issuer: 'urn:test', now: Date.now }),
  fingerprintKey: Buffer.alloc(32, 1),
  egress,
});

const ctx = (method: CallMethod, tool: string): CallContext => ({
  requestId: 'r',
  ingress: 'http',
  jsonrpcId: 1,
  traceId: '0'.repeat(32),
  principal: { subject: 'agent:a', issuer: 'urn:test', delegation: [], scopes: [], authMethod: 'jwt' },
  method,
  server: 's',
  target: `s__${tool}`,
  downstreamTarget: tool,
  startedAt: 0,
});

const serverOnly = { headers: { 'X-Api': `Key ${API}` }, arguments: {} };
const special = { headers: { 'X-Api': `Key ${API}`, 'X-Tool': TOOL_TOKEN }, arguments: { token: TOOL_TOKEN } };

describe('ConfiguredSecrets: what each call carries', () => {
  // In this order on one injector: each tool's plan is made once and never handed to another tool.
  it.each([
    ['tools/call', 'plain', serverOnly],
    ['tools/call', 'special', special],
    ['tools/call', 'other', serverOnly],
    ['tools/call', 'special', special],
    ['tools/call', 'constructor', serverOnly],
    ['tools/call', 'toString', serverOnly],
    ['tools/call', 'hasOwnProperty', serverOnly],
    ['tools/call', '__proto__', serverOnly],
    ['tools/call', 'plain', serverOnly],
    ['resources/read', 'special', { headers: { 'X-Api': `Key ${API}` }, arguments: {} }],
    ['prompts/get', 'plain', serverOnly],
  ] as const)('%s %s', async (method, tool, expected) => {
    const result = await injector.inject(ctx(method, tool));
    if (!result.ok) throw new Error(`denied: ${result.denial.reason}`);
    expect({ headers: result.value.headers, arguments: result.value.arguments }).toEqual(expected);
    expect(result.value.used.map((u) => u.name)).toEqual(
      Object.keys(expected.headers).length > 1 ? ['api', 'tok'] : ['api'],
    );
    expect(egress.scrubText(`${API} ${Object.values(result.value.headers).join(' ')}`)).not.toMatch(/value|token/);
  });

  it('refuses an agent-supplied injected argument on the tool that has it only', async () => {
    const supplied = (tool: string) => injector.inject({ ...ctx('tools/call', tool), arguments: { token: 'mine' } });
    const refused = await supplied('special');
    expect(refused.ok ? 'allowed' : refused.denial.kind).toBe('invalid_params');
    expect((await supplied('plain')).ok).toBe(true);
  });
});
