#!/usr/bin/env node
// The gateway's own CPU time per operation (user + system, from /proc/PID/stat), beside the p50 the
// client sees: on a shared machine the wall-clock figures follow the other processes' load, the CPU a
// gateway spends per list or call much less, so two builds run alternately can be compared by it
// (run this script from each tree in turn). The measuring client's CPU per call and, for a gateway that
// launched its downstream, that server's are printed too: all of them share the machine's cores.
// Every answer is checked as in the suite.
//   node bench/cpu.mjs [--only 'warden HTTP→HTTP,warden stdio→stdio'] [--lists 100] [--calls 1000]
//   (--only also takes the peers and floors: 'mcp-proxy', 'supergateway', 'floor: relay HTTP→HTTP'…)
import { readdirSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { prepareGovernance } from './lib/setup.mjs';
import { defineTargets } from './lib/targets.mjs';
import { latency, listing } from './lib/measure.mjs';
import { stopAll, stopAllOnExit } from './lib/procs.mjs';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'warden HTTP→HTTP,warden stdio→stdio' },
    lists: { type: 'string', default: '100' },
    calls: { type: 'string', default: '1000' },
  },
});
stopAllOnExit();
const wanted = values.only.split(',');
const lists = Number(values.lists);
const calls = Number(values.calls);
const governance = prepareGovernance({ extraTools: 1000 });
// Peers and floors are defined too, so `--only` can name them (their proxy process is measured).
const targets = defineTargets({ extraTools: 1000, governance, peers: true }).filter((t) =>
  wanted.some((w) => t.name.includes(w)),
);
/** CPU milliseconds the process has used (utime + stime, in clock ticks of 10 ms). */
const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
/** Of it, in the kernel (stime). */
const sysMs = (pid) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[12]) * 10;
/** The process's children (a gateway's launched downstream servers), by PID. */
const childrenOf = (pid) => {
  const found = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (text) found.push(...text.split(' ').map(Number));
  }
  return found;
};
const sumCpu = (pids) => pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
/** This process's CPU milliseconds (the measuring client: SDK client, fetch, checks). */
const ownMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const errors = [];
try {
  for (const target of targets) {
    await target.start();
    const session = await target.connect();
    // The gateway (or the direct server): the served process, or the stdio client's child.
    const pid = target.proc?.pid ?? session.client.transport.pid;
    await listing(target, session, { calls: 5, warmup: 2 }, errors);
    await latency(target, session, { calls: 50, warmup: 0, size: 100 }, errors);
    let before = cpuMs(pid);
    const list = lists > 0 ? await listing(target, session, { calls: lists, warmup: 0 }, errors) : undefined;
    const listCpu = (cpuMs(pid) - before) / Math.max(1, lists);
    const children = childrenOf(pid);
    before = cpuMs(pid);
    const sysBefore = sysMs(pid);
    const childBefore = sumCpu(children);
    const ownBefore = ownMs();
    const call = calls > 0 ? await latency(target, session, { calls, warmup: 0, size: 100 }, errors) : undefined;
    const per = (ms) => (ms / Math.max(1, calls)).toFixed(3);
    const callCpu = per(cpuMs(pid) - before);
    console.log(
      `${target.name.padEnd(20)}` +
        (list ? ` tools/list p50 ${list.p50.toFixed(2)} ms, CPU ${listCpu.toFixed(2)} ms/list;` : '') +
        (call
          ? ` call p50 ${call.p50.toFixed(2)} ms, CPU ${callCpu} ms/call (${per(sysMs(pid) - sysBefore)} in the kernel;` +
            ` client ${per(ownMs() - ownBefore)}` +
            (children.length ? `, its downstream ${per(sumCpu(children) - childBefore)}` : '') +
            ')'
          : ''),
    );
    await session.close();
  }
} finally {
  await stopAll();
  governance.cleanup();
}
if (errors.length) console.error(`${errors.length} wrong answers, first: ${errors[0]}`);
process.exit(errors.length ? 1 : 0);
