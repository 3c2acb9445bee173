#!/usr/bin/env node
// What one open session holds in the gateway's heap: starts the governed `warden HTTP→HTTP` target with
// `--heapsnapshot-signal`, opens a few sessions (each making a checked call), takes a heap snapshot,
// opens N more the same way, takes another, and prints the difference per session by object kind
// (V8 node type and constructor or string), largest first, plus the gateway's RSS at each point.
//   node bench/session-heap.mjs [--sessions 200] [--top 30] [--dir DIR]
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { prepareGovernance } from './lib/setup.mjs';
import { defineTargets } from './lib/targets.mjs';
import { echoOnce } from './lib/measure.mjs';
import { stopAll, stopAllOnExit, stopProcess } from './lib/procs.mjs';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '200' },
    top: { type: 'string', default: '30' },
    dir: { type: 'string' },
  },
});
stopAllOnExit();
const dir = resolve(values.dir ?? mkdtempSync(join(tmpdir(), 'warden-heap-')));
mkdirSync(dir, { recursive: true });
const count = Number(values.sessions);
const governance = prepareGovernance({ extraTools: 1000 });
const target = defineTargets({ extraTools: 1000, governance, peers: false }).find((t) => t.name === 'warden HTTP→HTTP');
target.nodeFlags = ['--heapsnapshot-signal=SIGUSR2', '--diagnostic-dir', dir];
const errors = [];
const rssMB = (pid) => {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB$/m);
  return line ? Number(line[1]) / 1024 : NaN;
};

/** Sends the signal and waits until a new snapshot file has stopped growing. */
async function snapshot(pid) {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const fresh = readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (fresh.length === 0) continue;
    const file = join(dir, fresh[0]);
    const size = statSync(file).size;
    await new Promise((r) => setTimeout(r, 1500));
    if (statSync(file).size === size && size > 0 && readFileSync(file, 'utf8').trimEnd().endsWith('}')) return file;
  }
}

/** Self size and count per `type:name` (strings grouped as one kind). */
function summary(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const out = new Map();
  const nodes = snap.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + iType]];
    const name =
      type === 'string' || type === 'concatenated string' || type === 'sliced string'
        ? '(strings)'
        : type === 'code'
          ? '(code)'
          : snap.strings[nodes[i + iName]].slice(0, 60);
    const key = `${type}:${name}`;
    const entry = out.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += nodes[i + iSize];
    entry.count += 1;
    out.set(key, entry);
  }
  return out;
}

const sessions = [];
try {
  await target.start();
  const pid = target.proc.pid;
  const open = async (n) => {
    for (let i = 0; i < n; i++) {
      const session = await target.connect();
      sessions.push(session);
      if (!(await echoOnce(target, session.client, 100, errors))) throw new Error(errors.at(-1));
    }
  };
  await open(4);
  const rssA = rssMB(pid);
  const a = await snapshot(pid);
  await open(count);
  const rssB = rssMB(pid);
  const b = await snapshot(pid);
  const [sa, sb] = [summary(a), summary(b)];
  const rows = [...sb].map(([key, v]) => {
    const was = sa.get(key) ?? { bytes: 0, count: 0 };
    return { key, bytes: (v.bytes - was.bytes) / count, count: (v.count - was.count) / count };
  });
  rows.sort((x, y) => y.bytes - x.bytes);
  const total = rows.reduce((s, r) => s + r.bytes, 0);
  console.log(
    `RSS ${rssA.toFixed(0)} MB with 4 sessions, ${rssB.toFixed(0)} MB with ${count + 4}: ${(((rssB - rssA) * 1024) / count).toFixed(1)} KB per session`,
  );
  console.log(`JS heap (self sizes) per session: ${(total / 1024).toFixed(1)} KB`);
  for (const r of rows.slice(0, Number(values.top)))
    console.log(`${(r.bytes / 1024).toFixed(2).padStart(8)} KB  ${r.count.toFixed(1).padStart(7)} objects  ${r.key}`);
  await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  sessions.length = 0;
  await stopProcess(target.proc, 10_000);
} finally {
  await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
  await stopAll();
  governance.cleanup();
}
console.log(`snapshots in ${dir}`);
process.exit(errors.length ? 1 : 0);
