#!/usr/bin/env node
// What one call's credential costs the gateway in one process: a credential minted, remembered by the
// egress stage and fingerprinted, through the real injector as the HTTP→HTTP bench target uses it (an
// EdDSA JWT as the Authorization header, ttl 60 s, the task and tool as claims), N calls at the steady
// state of 4,096 live credentials. Beside it the same injector with an egress stage that remembers
// nothing (so the difference is what remembering costs), the mint alone and the Ed25519 signature alone.
// CPU (user + system of the process) per call, every case in each of 3 rounds in turn.
//   npm run build && node bench/mint.mjs [--calls 20000] [--dist DIR]   (--dist: another tree's dist, to compare builds)
import { Buffer } from 'node:buffer';
import { sign, KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { calls: { type: 'string', default: '20000' }, dist: { type: 'string', default: 'dist' } },
});
const n = Number(values.calls);
const dist = pathToFileURL(resolve(values.dist)).href;
const { KeyStore } = await import(`${dist}/src/state/keys.js`);
const { ConfiguredSecrets } = await import(`${dist}/src/secrets/injector.js`);
const { Egress } = await import(`${dist}/src/egress/egress.js`);
const { SecretSources } = await import(`${dist}/src/secrets/sources.js`);

const dir = mkdtempSync(join(tmpdir(), 'warden-bench-mint-'));
try {
  const keys = new KeyStore(dir);
  await keys.init(Date.now());
  const issuer = 'urn:mcp-warden:builtin';
  const source = { source: 'minted', audience: 'http://127.0.0.1:40000/mcp', ttlSeconds: 60 };
  const sources = new SecretSources({ baseDir: dir, env: {}, keys, issuer, now: Date.now });
  const injector = (egress) =>
    new ConfiguredSecrets({
      secrets: { echo: source },
      servers: {
        echo: {
          headers: { Authorization: 'Bearer {{secret:echo}}' },
          arguments: {},
          env: {},
          envMode: 'spawn',
          tools: {},
        },
      },
      sources,
      fingerprintKey: Buffer.alloc(32, 7),
      egress,
    });
  const egress = new Egress();
  const full = injector(egress);
  const forgetful = injector({ remember() {}, rememberMinted() {}, rememberPrefix() {} });
  const principal = {
    subject: 'agent:bench',
    issuer,
    delegation: [],
    scopes: [],
    authMethod: 'jwt',
    task: { id: 'task_0123456789abcdefghij' },
  };
  const ctx = {
    requestId: 'r',
    ingress: 'http',
    jsonrpcId: 1,
    traceId: 't',
    principal,
    method: 'tools/call',
    server: 'echo',
    target: 'echo__echo',
    downstreamTarget: 'echo',
    arguments: {},
    startedAt: Date.now(),
  };
  const claims = { subject: principal.subject, taskId: principal.task.id, tool: 'echo' };
  const key = KeyObject.from((await keys.active()).privateKey);
  const input = Buffer.from(`${'h'.repeat(100)}.${'p'.repeat(300)}`, 'ascii');
  let last = '';
  const cases = {
    'inject: mint, remember, fingerprint': async () => {
      const result = await full.inject(ctx);
      if (!result.ok) throw new Error('injection failed');
      last = result.value.headers.Authorization;
    },
    'inject, remembering nothing': async () => {
      if (!(await forgetful.inject(ctx)).ok) throw new Error('injection failed');
    },
    'mint alone (sources.resolve)': () => sources.resolve('echo', source, claims),
    'Ed25519 signature alone': () => sign(null, input, key),
  };
  const rows = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let round = 0; round < 3; round++) {
    for (const [label, run] of Object.entries(cases)) {
      for (let i = 0; i < 4096; i++) await run(); // warm, and the first round fills to 4,096 live
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) await run();
      const cpu = process.cpuUsage(c0);
      rows[label].push((cpu.user + cpu.system) / n);
    }
  }
  const signature = last.split('.')[2];
  if (!egress.scrubText(`x ${signature} y`).includes('[REDACTED]'))
    throw new Error('the last credential is not remembered');
  for (const [label, us] of Object.entries(rows))
    console.log(`${label.padEnd(38)} ${us.map((u) => u.toFixed(1).padStart(6)).join(' ')} µs CPU per call`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
