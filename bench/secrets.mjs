// Secrets benchmark (not part of npm test). Run after a build:
//   npx tsc -p tsconfig.build.json && node bench/secrets.mjs
// Measures what the secrets stage adds to one call with a minted credential injected as a header
// (target: p50 ≤ 0.2 ms), the heap the egress stage keeps per live minted credential, and redaction
// scanning of a 1 MB result (target: p50 ≤ 5 ms).
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { KeyStore } from '../dist/src/state/keys.js';
import { ConfiguredSecrets } from '../dist/src/secrets/injector.js';
import { Egress } from '../dist/src/egress/egress.js';
import { SecretSources } from '../dist/src/secrets/sources.js';

function percentile(samples, p) {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(label, runs, fn) {
  for (let i = 0; i < Math.min(200, runs); i += 1) await fn(i); // warm-up
  const samples = [];
  for (let i = 0; i < runs; i += 1) {
    const started = performance.now();
    await fn(i);
    samples.push(performance.now() - started);
  }
  const row = { label, runs, p50_ms: percentile(samples, 50), p99_ms: percentile(samples, 99) };
  console.log(`${label.padEnd(46)} p50 ${row.p50_ms.toFixed(3)} ms   p99 ${row.p99_ms.toFixed(3)} ms   (${runs} runs)`);
  return row;
}

const dir = mkdtempSync(join(tmpdir(), 'warden-bench-secrets-'));
try {
  const keys = new KeyStore(dir);
  await keys.init(Date.now());
  // The egress stage as the gateway builds it: every minted credential below is remembered (its signature until it expires).
  const egress = new Egress();
  const secrets = {
    tickets: { source: 'minted', audience: 'tickets', ttlSeconds: 60 },
    api: { source: 'env', name: 'BENCH_API_KEY' },
  };
  const injector = new ConfiguredSecrets({
    secrets,
    servers: {
      tickets: {
        headers: { Authorization: 'Bearer {{secret:tickets}}' },
        arguments: {},
        env: {},
        envMode: 'spawn',
        tools: {},
      },
    },
    sources: new SecretSources({
      baseDir: dir,
      env: { BENCH_API_KEY: 'bench-api-key-0123456789abcdef' },
      keys,
      issuer: 'urn:mcp-warden:builtin',
      now: Date.now,
    }),
    fingerprintKey: Buffer.alloc(32, 7),
    egress,
  });
  const principal = {
    subject: 'agent:bench',
    issuer: 'urn:mcp-warden:builtin',
    delegation: [],
    scopes: [],
    authMethod: 'jwt',
    task: { id: 'task_bench' },
  };
  const ctx = (i) => ({
    requestId: `r${i}`,
    ingress: 'http',
    jsonrpcId: i,
    traceId: 't',
    principal,
    method: 'tools/call',
    server: 'tickets',
    target: 'tickets__create_ticket',
    downstreamTarget: 'create_ticket',
    arguments: {},
    startedAt: Date.now(),
  });

  const minted = [];
  const mint = await measure('inject: minted credential as a header', 5_000, async (i) => {
    const result = await injector.inject(ctx(i));
    if (!result.ok || !result.value.headers.Authorization?.startsWith('Bearer ey')) throw new Error('injection failed');
    minted.push(result.value.headers.Authorization.slice('Bearer '.length));
  });

  // Heap an egress stage keeps per live minted credential (each until it expires; at most 4,096 at once):
  // at a few hundred calls a second every one of them is live, so this is per-call memory.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  const tokens = minted.slice(-4096);
  const fresh = new Egress();
  fresh.rememberMinted(tokens[0]);
  gc();
  // The heap and ArrayBuffer backing stores (the matcher's gram table is a typed array, outside the heap).
  const held = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const heapBefore = held();
  for (const token of tokens) fresh.rememberMinted(token);
  gc();
  const perCredential = Math.round((held() - heapBefore) / tokens.length);
  console.log(
    `${'egress: memory per live minted credential'.padEnd(46)} ${perCredential} bytes   (${tokens.length} live)`,
  );

  // Remember one env value too, so the scan looks for a value and its encodings as well as the minted
  // credentials (about 5,000 live signatures at this point, each in every form).
  egress.remember('bench-api-key-0123456789abcdef');
  const scrubber = egress;
  const text = 'lorem ipsum dolor sit amet, consectetur adipiscing elit. '
    .repeat(Math.ceil((1024 * 1024) / 57))
    .slice(0, 1024 * 1024);
  // Parsed from JSON, as the gateway gets every result from a downstream (a flat string, not a concatenation).
  const result = JSON.parse(
    JSON.stringify({ content: [{ type: 'text', text: `${text}bench-api-key-0123456789abcdef` }] }),
  );
  const scan = await measure('scrub: 1 MB tool result', 200, () => {
    const out = scrubber.scrubResult(result);
    if (out.content[0].text.includes('bench-api-key')) throw new Error('not scrubbed');
  });
  console.log(JSON.stringify({ mint, scan, heapPerMintedCredentialBytes: perCredential }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
