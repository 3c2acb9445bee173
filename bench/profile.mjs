#!/usr/bin/env node
// Profiles one governed target under steady load: starts it with `node --cpu-prof`, runs sequential
// calls, then 4 concurrent sessions, for a fixed time each (every result checked), stops it so the
// profile is written, and prints the summary (bench/profile-summary.mjs).
//   node bench/profile.mjs [--target 'warden HTTP→HTTP'] [--seconds 10] [--size 100] [--list] [--dir DIR]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { prepareGovernance, ROOT } from './lib/setup.mjs';
import { defineTargets } from './lib/targets.mjs';
import { latency, listing, throughput } from './lib/measure.mjs';
import { stopAll, stopAllOnExit, stopProcess } from './lib/procs.mjs';

/** Ends a stdio client's child process by closing its stdin, and waits (up to a minute) for it to exit. */
async function endStdio(transport) {
  const child = transport._process; // the SDK transport's spawned process (not part of its typed API)
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin?.end();
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 60_000).unref())]);
}

const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'warden HTTP→HTTP' },
    seconds: { type: 'string', default: '10' },
    size: { type: 'string', default: '100' },
    list: { type: 'boolean', default: false },
    dir: { type: 'string' },
    top: { type: 'string', default: '25' },
  },
});
stopAllOnExit();
const dir = resolve(values.dir ?? mkdtempSync(join(tmpdir(), 'warden-prof-')));
mkdirSync(dir, { recursive: true });
const governance = prepareGovernance({ extraTools: 1000 });
const target = defineTargets({ extraTools: 1000, governance, peers: false }).find((t) => t.name === values.target);
if (!target) throw new Error(`no target ${values.target}`);
target.nodeFlags = ['--cpu-prof', '--cpu-prof-dir', dir];
const errors = [];
const ms = Number(values.seconds) * 1000;
const size = Number(values.size);
try {
  await target.start();
  const sessions = [];
  for (let i = 0; i < 4; i++) sessions.push(await target.connect());
  if (values.list) {
    const r = await listing(target, sessions[0], { calls: Math.round(ms / 10), warmup: 5 }, errors);
    console.log(`tools/list: p50 ${r.p50.toFixed(2)} ms (${r.n} lists)`);
  } else {
    const seq = await latency(target, sessions[0], { calls: Math.round(ms / 4), warmup: 50, size }, errors);
    console.log(`sequential: p50 ${seq.p50.toFixed(2)} ms, p99 ${seq.p99.toFixed(2)} ms (${seq.n} calls)`);
    const par = await throughput(target, sessions, { durationMs: ms, warmup: 5, size }, errors);
    console.log(`4 sessions: ${par.callsPerSecond.toFixed(0)} calls/s`);
  }
  // A stdio gateway writes its profile when it exits: its stdin is ended and its exit awaited here, because
  // the SDK client's close() sends SIGTERM 2 s after ending stdin (SIGKILL 2 s later), before a gateway on
  // a loaded machine has stopped and written the file.
  if (target.transport === 'stdio') await Promise.all(sessions.map((s) => endStdio(s.client.transport)));
  await Promise.all(sessions.map((s) => s.close()));
  if (target.proc) await stopProcess(target.proc, 10_000);
} finally {
  await stopAll();
  governance.cleanup();
}
if (errors.length) console.error(`${errors.length} wrong answers, first: ${errors[0]}`);
if (readdirSync(dir).every((f) => !f.endsWith('.cpuprofile'))) console.error(`no profile was written in ${dir}`);
for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
  spawnSync(
    process.execPath,
    [join(ROOT, 'bench/profile-summary.mjs'), join(dir, file), '--top', values.top, '--focus', 'dist/src'],
    { stdio: 'inherit' },
  );
}
console.log(`profiles in ${dir}`);
process.exit(errors.length ? 1 : 0);
