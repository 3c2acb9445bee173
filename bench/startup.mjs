// The CPU one start costs (not part of npm test): short `mcp-warden` commands to their exit, `serve`
// to its ready line, `stdio` to its answer to `initialize`, and the conformance fixture to its answer.
// The test suite starts hundreds of these, so their CPU is much of its cost; a person feels it too.
//   node scripts/build-if-stale.mjs && node bench/startup.mjs [--rounds 5] [--only 'serve,stdio'] [--profile DIR]
// CPU is user + system of the process (and of its children: a fixture a gateway starts is counted)
// from /proc, in 10 ms clock ticks, until it exits or answers; wall is spawn to exit or answer. The
// scenarios alternate within each round, so a busy machine slows them alike. Median of the rounds.
// --profile DIR adds `node --cpu-prof --cpu-prof-dir DIR` to each start (summarise a profile with
// bench/profile-summary.mjs); profiling slows the start, so its figures are not the ones to compare.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: { rounds: { type: 'string' }, only: { type: 'string' }, profile: { type: 'string' } },
});
const rounds = Number(values.rounds ?? 5);
const bin = join(ROOT, 'bin', 'mcp-warden.js');
const fixture = join(ROOT, 'dist', 'test', 'fixtures', 'conformance-server.js');
const nodeFlags = values.profile ? ['--cpu-prof', '--cpu-prof-dir', resolve(values.profile)] : [];

const dir = mkdtempSync(join(tmpdir(), 'warden-startup-bench-'));
const writeConfig = (name, config) => {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ version: 1, dataDir: './data', servers: {}, ...config }));
  return file;
};
const local = writeConfig('local.json', { auth: { mode: 'unauthenticated-local' } });
const jwt = writeConfig('jwt.json', { auth: { mode: 'jwt', resource: 'http://gateway.test/mcp', builtin: {} } });
const withFixture = writeConfig('fixture.json', {
  auth: { mode: 'unauthenticated-local' },
  servers: { fixture: { transport: 'stdio', command: process.execPath, args: [fixture, '--stdio'], pinning: 'off' } },
});
const invalid = writeConfig('invalid.json', { auth: { mode: 'jwt' }, gateway: { port: 'eighty' } });

/** utime + stime (+ reaped children's) of a process, in ms; `self` reads this process's reaped children only. */
function cpuMs(pid, { self = false } = {}) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = self ? Number(f[13]) + Number(f[14]) : Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return ticks * 10;
}

/** CPU ms of the live descendants of `pid` (a gateway's downstream servers). */
function descendantsCpuMs(pid) {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === pid) total += cpuMs(Number(entry)) + descendantsCpuMs(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return total;
}

/** A command run to its exit: the CPU of this process's reaped children before and after. */
function toExit(args, expectStatus = 0) {
  return () => {
    const before = cpuMs(process.pid, { self: true });
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, [...nodeFlags, ...args], { encoding: 'utf8', cwd: dir });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (result.status !== expectStatus)
      throw new Error(`${args.join(' ')} exited ${result.status} (expected ${expectStatus}): ${result.stderr}`);
    return { cpuMs: cpuMs(process.pid, { self: true }) - before, wallMs };
  };
}

/** A long-running process until a stdout line matches `ready` (after writing `input`), then SIGTERM. */
function toReady(args, ready, input) {
  return async () => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [...nodeFlags, ...args], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr = (stderr + chunk).slice(-4096)));
    const exited = new Promise((done) => child.once('exit', done));
    if (input) child.stdin.write(`${JSON.stringify(input)}\n`);
    const figures = await new Promise((done, fail) => {
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        if (!ready.test(line)) return;
        const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
        done({ cpuMs: cpuMs(child.pid) + descendantsCpuMs(child.pid), wallMs });
      });
      void exited.then(() => fail(new Error(`${args.join(' ')} exited before it was ready: ${stderr}`)));
    });
    child.stdin.end();
    child.kill('SIGTERM');
    await exited;
    return figures;
  };
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'startup-bench', version: '1' } },
};
const ANSWER = /^\{.*"id":1[,}]/;
const LISTENING = /^mcp-warden listening on /;

const SCENARIOS = {
  'node -e 0': toExit(['-e', '0']),
  '--help': toExit([bin, '--help']),
  'audit list': toExit([bin, 'audit', 'list', '--config', jwt]),
  'task list': toExit([bin, 'task', 'list', '--config', jwt]),
  'token issue': toExit([bin, 'token', 'issue', '--sub', 'agent:bench', '--config', jwt]),
  'config check': toExit([bin, 'config', 'check', jwt]),
  'serve, invalid config': toExit([bin, 'serve', '--config', invalid], 2),
  'serve → listening': toReady([bin, 'serve', '--port', '0', '--config', local], LISTENING),
  'serve jwt → listening': toReady([bin, 'serve', '--port', '0', '--config', jwt], LISTENING),
  'serve + fixture → listening': toReady([bin, 'serve', '--port', '0', '--config', withFixture], LISTENING),
  'stdio → initialize': toReady([bin, 'stdio', '--config', local], ANSWER, INITIALIZE),
  'fixture stdio → initialize': toReady([fixture, '--stdio'], ANSWER, INITIALIZE),
};

const wanted = values.only?.split(',');
const chosen = Object.entries(SCENARIOS).filter(([name]) => !wanted || wanted.some((w) => name.includes(w)));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
try {
  // The data folder, its first key and audit log exist before the figures (as after a first start).
  toExit([bin, 'token', 'issue', '--sub', 'agent:setup', '--config', jwt])();
  await toReady([bin, 'serve', '--port', '0', '--config', jwt], LISTENING)();
  const samples = new Map(chosen.map(([name]) => [name, []]));
  const loadBefore = loadavg()[0];
  for (let round = 0; round < rounds; round += 1) {
    for (const [name, run] of chosen) samples.get(name).push(await run());
  }
  console.log(
    `mcp-warden start-up, median of ${rounds} rounds (load ${loadBefore.toFixed(2)} → ${loadavg()[0].toFixed(2)})`,
  );
  console.log(`  ${'scenario'.padEnd(30)} ${'CPU ms'.padStart(8)} ${'wall ms'.padStart(8)}`);
  for (const [name, runs] of samples) {
    const cpu = median(runs.map((r) => r.cpuMs));
    const wall = median(runs.map((r) => r.wallMs));
    console.log(`  ${name.padEnd(30)} ${cpu.toFixed(0).padStart(8)} ${wall.toFixed(0).padStart(8)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
