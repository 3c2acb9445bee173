#!/usr/bin/env node
// tools/list of 1,000 tools, policy-filtered, alone: the suite's list section (bench/lib/measure.mjs,
// every answer checked) for the direct HTTP server and the governed targets, in rounds that alternate
// the targets, so a loaded machine's drift hits all of them alike. Prints each round and the median p50s
// (for HTTP, also when the answer's last byte was in, before the client parsed it).
//   node bench/list.mjs [--rounds 5] [--lists 30] [--only 'HTTP→HTTP,stdio→stdio']
import { parseArgs } from 'node:util';
import { prepareGovernance } from './lib/setup.mjs';
import { defineTargets } from './lib/targets.mjs';
import { listing, median } from './lib/measure.mjs';
import { stopAll, stopAllOnExit } from './lib/procs.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    lists: { type: 'string', default: '30' },
    only: { type: 'string', default: 'HTTP→HTTP' },
  },
});
stopAllOnExit();
const wanted = values.only.split(',');
const governance = prepareGovernance({ extraTools: 1000 });
const targets = defineTargets({ extraTools: 1000, governance, peers: false }).filter(
  (t) => t.name.startsWith('direct') || wanted.some((w) => t.name.includes(w)),
);
const errors = [];
const p50s = new Map(targets.map((t) => [t.name, []]));
const bytesIn = new Map(targets.map((t) => [t.name, []]));
try {
  const sessions = [];
  for (const target of targets) {
    await target.start();
    sessions.push(await target.connect());
  }
  for (let round = 0; round < Number(values.rounds); round++) {
    const line = [];
    for (let k = 0; k < targets.length; k++) {
      const i = (k + round) % targets.length;
      const r = await listing(targets[i], sessions[i], { calls: Number(values.lists), warmup: 5 }, errors);
      p50s.get(targets[i].name).push(r.p50);
      bytesIn.get(targets[i].name).push(r.bytesInP50);
      line.push(`${targets[i].name} ${r.p50.toFixed(2)}`);
    }
    console.log(`round ${round + 1}: ${line.join(', ')} ms`);
  }
  await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
} finally {
  await stopAll();
  governance.cleanup();
}
const directHttp = median(p50s.get('direct HTTP'));
for (const [name, values_] of p50s)
  console.log(
    `${name.padEnd(22)} p50 ${median(values_).toFixed(2)} ms  (×${(median(values_) / directHttp).toFixed(2)} direct HTTP)` +
      (Number.isFinite(median(bytesIn.get(name))) ? `, last byte in ${median(bytesIn.get(name)).toFixed(2)} ms` : ''),
  );
if (errors.length) console.error(`${errors.length} wrong answers, first: ${errors[0]}`);
process.exit(errors.length ? 1 : 0);
