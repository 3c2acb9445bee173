// The egress canary through the reviewer console (issue 14): a server echoes a spawn-mode secret in its
// definitions and results; the console's API (tools and their pinned definitions, calls, events,
// integrity) answers with none of its forms, because everything it reads was stored through the egress stage.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHttp, ROOT } from '../helpers/gateway.js';
import { consoleRequest, loginCode, signIn, startConsoleGateway, type ConsoleGateway } from '../console/helpers.js';

const ECHO = join(ROOT, 'dist/test/fixtures/echo-secrets-server.js');
const CANARY = `consolecanary-${randomBytes(12).toString('hex')}`;

const POLICY = `version: 1
agents:
  - id: everyone
    match: {}
    grants:
      - { id: echo, effect: allow, tools: ["stdio__*"], prompts: ["stdio__*"], resources: ["*"] }
reviewers:
  - { subject: alice, description: on-call reviewer }
`;

function forms(value: string): string[] {
  const bytes = Buffer.from(value);
  const out = [value, encodeURIComponent(value), bytes.toString('hex')];
  for (const k of [0, 1, 2]) {
    for (const encoding of ['base64', 'base64url'] as const) {
      out.push(
        Buffer.concat([Buffer.alloc(k, 0x6b), bytes])
          .toString(encoding)
          .slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6)),
      );
    }
  }
  return out;
}

describe('egress canary: console API responses', () => {
  let warden: ConsoleGateway;

  beforeAll(async () => {
    process.env.WARDEN_TEST_CONSOLE_CANARY = CANARY;
    warden = await startConsoleGateway({
      policy: POLICY,
      servers: {
        stdio: {
          transport: 'stdio',
          command: 'node',
          args: [ECHO, '--stdio'],
          env: { ECHO_SCHEME: 'stdio' },
          secrets: { env: { WARDEN_CANARY_CONSOLE: 'canary' } },
        },
      },
      config: {
        secrets: { canary: { source: 'env', name: 'WARDEN_TEST_CONSOLE_CANARY' } },
        audit: { captureResults: true },
      },
    });
  });

  afterAll(async () => {
    await warden?.stop();
    delete process.env.WARDEN_TEST_CONSOLE_CANARY;
  });

  it('tools, their pinned definitions, calls and events hold no form of the canary', async () => {
    const { client } = await connectHttp(warden.gateway.url);
    try {
      const { tools } = await client.listTools();
      expect.soft(tools.find((t) => t.name === 'stdio__echo')?.description).toContain('[REDACTED]');
      await client.callTool({ name: 'stdio__echo', arguments: {} });
    } finally {
      await client.close();
    }
    const session = await signIn(warden.origin, loginCode(warden.gateway.configFile, 'alice'));
    const texts: string[] = [];
    const get = async (path: string) => {
      const response = await consoleRequest(warden.origin, { path, cookie: session.cookie });
      expect(response.status, `${path}: ${response.text.slice(0, 200)}`).toBe(200);
      texts.push(response.text);
      return response.json;
    };
    const pins = await get('/api/tools');
    expect(JSON.stringify(pins)).toContain('[REDACTED]'); // the echoing definition is there, redacted
    const calls = (await get('/api/calls')) as { rows?: { id: string }[] };
    for (const row of calls.rows ?? []) await get(`/api/calls/${row.id}`);
    expect((calls.rows ?? []).length).toBeGreaterThan(0);
    await get('/api/events');
    await get('/api/integrity');
    const all = texts.join('\n');
    expect(forms(CANARY).filter((form) => all.includes(form))).toEqual([]);
  });
});
