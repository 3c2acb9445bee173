#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package/file,
// and inclusive time of the functions whose names match --focus.
//   node bench/profile-summary.mjs PROFILE.cpuprofile [--top 30] [--focus REGEX]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '30' }, focus: { type: 'string' } },
});
if (positionals.length !== 1) {
  console.error('usage: node bench/profile-summary.mjs PROFILE.cpuprofile [--top N] [--focus REGEX]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], 'utf8'));
const top = Number(values.top);
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Sample counts → microseconds per node (timeDeltas are the gaps between samples).
const selfUs = new Map();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const where = (cf) => {
  const url = cf.url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) return pkg;
  if (url === '') return '(native/V8)';
  if (url.startsWith('node:')) return url;
  return url.replace(/^.*\/dist\//, 'dist/');
};
const label = (cf) => `${cf.functionName || '(anonymous)'} ${where(cf)}:${cf.lineNumber + 1}`;

const byFunction = new Map();
const byPlace = new Map();
for (const [id, us] of selfUs) {
  const cf = nodes.get(id).callFrame;
  byFunction.set(label(cf), (byFunction.get(label(cf)) ?? 0) + us);
  byPlace.set(where(cf), (byPlace.get(where(cf)) ?? 0) + us);
}
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
const print = (title, map) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
};
console.log(`${positionals[0]}: ${(total / 1e6).toFixed(2)} s sampled`);
print('self time by package / file', byPlace);
print('self time by function', byFunction);

if (values.focus) {
  // Inclusive time: a sample counts once for each distinct matching frame on its stack.
  const re = new RegExp(values.focus);
  const inclusive = new Map();
  for (const [id, us] of selfUs) {
    const seen = new Set();
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const l = label(nodes.get(n).callFrame);
      if (re.test(l) && !seen.has(l)) {
        seen.add(l);
        inclusive.set(l, (inclusive.get(l) ?? 0) + us);
      }
    }
  }
  print(`inclusive time of frames matching /${values.focus}/`, inclusive);
}
