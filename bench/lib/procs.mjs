// Every process the suite starts goes through here: spawned in its own process group (so a server's
// own children go with it), remembered by PID, and stopped by PID at the end, on failure and on Ctrl-C.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HANG_GUARD_MS } from './setup.mjs';

const started = new Set();
let reaper;

/** Tells the reaper sidecar (bench/lib/reaper.mjs) about a group or process to kill if the suite dies. */
function reap(line) {
  if (!reaper) {
    reaper = spawn(process.execPath, [join(import.meta.dirname, 'reaper.mjs')], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    reaper.unref();
    reaper.stdin.on('error', () => undefined);
    reaper.stdin.unref?.();
    reaper.stdin._handle?.unref?.();
  }
  reaper.stdin.write(`${line}\n`);
}

/** Spawns `cmd args` detached in its own group; resolves once a stdout line matches `ready` (or at once without one). */
export function startProcess(name, cmd, args, { env = {}, ready, timeoutMs = HANG_GUARD_MS, cwd } = {}) {
  const child = spawn(cmd, args, {
    env: { ...process.env, ...env },
    cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const proc = { name, child, pid: child.pid, stderr: '', exited: false };
  started.add(proc);
  reap(`g ${child.pid}`);
  child.stderr.setEncoding('utf8').on('data', (chunk) => (proc.stderr = (proc.stderr + chunk).slice(-8192)));
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  proc.exit = exit.then((result) => {
    proc.exited = true;
    started.delete(proc);
    return result;
  });
  return new Promise((resolve, reject) => {
    if (!ready) {
      child.stdout.resume();
      return resolve(proc);
    }
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(
      () => reject(new Error(`${name}: not ready within ${timeoutMs} ms\n${proc.stderr}`)),
      timeoutMs,
    );
    lines.on('line', (line) => {
      const match = ready.exec(line);
      if (!match) return;
      clearTimeout(timer);
      proc.match = match;
      resolve(proc);
    });
    void proc.exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (code ${code}, signal ${signal}) before it was ready\n${proc.stderr}`));
    });
  });
}

/** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once the leader has exited. */
export async function stopProcess(proc, graceMs = 3_000) {
  if (proc.exited) return;
  signalGroup(proc.pid, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(proc.pid, 'SIGKILL'), graceMs);
  await proc.exit;
  clearTimeout(timer);
  signalGroup(proc.pid, 'SIGKILL'); // anything left in the group
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

export async function stopAll() {
  await Promise.all([...started].map((proc) => stopProcess(proc)));
  killTrackedNow();
}

/** Kills every started group synchronously: for `exit` handlers, where nothing can be awaited. */
export function killAllNow() {
  for (const proc of started) signalGroup(proc.pid, 'SIGKILL');
  killTrackedNow();
}

let hooked = false;
/** Makes sure nothing the suite started outlives it: normal exit, an uncaught error, Ctrl-C, SIGTERM. */
export function stopAllOnExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping everything it started\n`);
      void stopAll().finally(() => process.exit(130));
    });
  }
}

/** A free TCP port on 127.0.0.1 (for peers that cannot take port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resident set size of a process in bytes (Linux /proc). */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

/** PIDs whose parent is `pid` (Linux /proc), i.e. the direct children of a gateway. */
export function childPids(pid) {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z') out.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

// Processes spawned by others on our behalf (the SDK's stdio client transport): killed on exit too.
const tracked = new Set();
export function trackPid(pid) {
  tracked.add(pid);
  reap(`p ${pid}`);
}
export function untrackPid(pid) {
  tracked.delete(pid);
  reap(`-p ${pid}`);
}
export function killTrackedNow() {
  for (const pid of tracked) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
