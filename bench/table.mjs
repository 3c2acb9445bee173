#!/usr/bin/env node
// Prints a result file of bench/run.mjs as the Markdown table of the README's Performance section.
//   node bench/table.mjs bench/results/latest.json
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/table.mjs RESULT.json');
  process.exit(2);
}
const report = JSON.parse(readFileSync(file, 'utf8'));
const f = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '–');
const rows = [
  '| target | p50 | p95 | p99 | p50 vs direct | calls/s @1 | @4 | @16 | @4 vs direct | tools/list p50 | list bytes in | setup p50 | 1 KB | 100 KB | 1 MB |',
  '|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
];
for (const [name, m] of Object.entries(report.medians)) {
  const base = report.medians[report.targets[name].transport === 'stdio' ? 'direct stdio' : 'direct HTTP'];
  const t = m.throughput;
  rows.push(
    `| ${name} | ${f(m.latencyMs.p50)} | ${f(m.latencyMs.p95)} | ${f(m.latencyMs.p99)} | ×${f(m.latencyMs.p50 / base.latencyMs.p50)} | ${f(t[1], 0)} | ${f(t[4], 0)} | ${f(t[16], 0)} | ×${f(t[4] / base.throughput[4])} | ${f(m.listP50Ms)} | ${f(m.listBytesInP50Ms)} | ${f(m.setupP50Ms.connect, 1)} | ${f(m.sizesP50Ms['1KB'])} | ${f(m.sizesP50Ms['100KB'])} | ${f(m.sizesP50Ms['1MB'], 1)} |`,
  );
}
console.log(rows.join('\n'));
const { openSessions: o, churn: c } = report.sessions;
if (o)
  console.log(
    `\n${o.opened} open HTTP sessions on ${o.target}: gateway RSS ${f(o.rssBeforeMB, 0)} MB before, ${f(o.rssOpenMB, 0)} MB open, ${f(o.rssAfterCloseMB, 0)} MB after closing.`,
  );
if (c)
  console.log(
    `${c.closed} sessions opened, called and closed on ${c.target}: child processes ${c.childrenBefore} before, ${c.childrenPeak} at peak, ${c.childrenAfter} after.`,
  );
console.log(
  `\n${report.checks
    .filter((x) => !x.info)
    .map((x) => `${x.met ? 'met' : 'missed'}: ${x.name} (${x.detail})`)
    .join('; ')}.`,
);
