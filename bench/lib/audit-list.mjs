// The audit benches' read side (bench/audit.mjs, bench/audit-list-10m.mjs): each filter of `audit list`
// run 7 times through the real query code, and its median time.
import { join } from 'node:path';
import { ROOT } from './setup.mjs';

const { listRecords } = await import(join(ROOT, 'dist/src/audit/queries.js'));

/** For each named filter (50 records at most, as `audit list`): the records found and the median of 7 runs, ms. */
export function timeListFilters(db, filters) {
  return Object.entries(filters).map(([name, filter]) => {
    const times = [];
    let found = 0;
    for (let i = 0; i < 7; i += 1) {
      const t = process.hrtime.bigint();
      found = listRecords(db, { ...filter, limit: 50 }).length;
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    times.sort((a, b) => a - b);
    return { name, found, p50: times[3] };
  });
}
