#!/usr/bin/env node
// What the egress stage spends per call remembering the call's minted credential (issue 21's profile put
// `rememberMinted` above the Ed25519 signature itself): in one process, with credentials shaped like the
// gateway's (constant header, payload starting with its `act` claim, a fresh 64-byte signature), at the
// steady state of 4,096 live ones (each new one evicts the oldest), split into building the signature's
// forms (`valueForms`) and the rest (the matcher's add, and the forget of the evicted one).
//   npm run build && node bench/remember-minted.mjs [--tokens 20000]
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Egress } from '../dist/src/egress/egress.js';
import { valueForms } from '../dist/src/egress/forms.js';

const { values } = parseArgs({ options: { tokens: { type: 'string', default: '20000' } } });
const n = Number(values.tokens);
const b64url = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const header = b64url({ alg: 'EdDSA', kid: 'bench-kid-0123456789', typ: 'JWT' });
const token = (i) =>
  `${header}.${b64url({ act: { sub: 'mcp-warden' }, sub: 'agent:bench', aud: 'echo', jti: `j-${i}-${randomBytes(8).toString('hex')}`, exp: Math.floor(Date.now() / 1000) + 3600 })}.${randomBytes(64).toString('base64url')}`;
const tokens = Array.from({ length: n + 4096 }, (_, i) => token(i));

function time(label, run) {
  for (let i = 0; i < 4096; i++) run(i); // warm up, and fill to the steady state of 4,096 live
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 4096; i < n + 4096; i++) run(i);
  const cpu = process.cpuUsage(c0);
  const wall = ((performance.now() - t0) * 1000) / n;
  // CPU time (user + system, every thread of the process: GC helpers too) is what to compare on a shared machine.
  const us = (cpu.user + cpu.system) / n;
  console.log(`${label.padEnd(52)} ${us.toFixed(1)} µs CPU per credential (${wall.toFixed(1)} µs wall)`);
  return us;
}

for (let round = 1; round <= 3; round++) {
  console.log(`round ${round}`);
  const egress = new Egress();
  const all = time('rememberMinted (as the gateway does)', (i) => egress.rememberMinted(tokens[i]));
  const forms = time('valueForms of the signature alone', (i) => valueForms(tokens[i].split('.')[2]));
  console.log(
    `${'the rest: matcher add, evicted forget, prefix checks'.padEnd(52)} ${(all - forms).toFixed(1)} µs CPU`,
  );
  const text = 'x'.repeat(100) + tokens[n + 4095].split('.')[2];
  if (!egress.scrubText(text).includes('[REDACTED]')) throw new Error('the last credential is not remembered');
}
