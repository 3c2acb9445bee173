import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** How long a server gets after stdin ends, and again after SIGTERM, before the next step. */
export const STOP_GRACE_MS = 2_000;
/** How often the group is checked for members left while waiting for it to empty. */
const GROUP_POLL_MS = 25;
/** After SIGKILL the kernel ends the group at once; this only bounds the wait for it to be reaped. */
const AFTER_KILL_MS = 2_000;

/**
 * Spawns a downstream server as the leader of a process group of its own (argv, no shell), so that
 * it and every process it starts can be signalled together: no grandchild is left behind when the
 * server is stopped, whatever the server does with EOF or SIGTERM.
 */
export function spawnInGroup(
  command: string,
  args: readonly string[],
  options: Omit<SpawnOptions, 'detached' | 'shell'>,
): ChildProcess {
  return spawn(command, args, { ...options, detached: true, shell: false });
}

/**
 * Stops a process group led by `child`: end of stdin, SIGTERM to the group after `graceMs` (or at
 * once when the leader has already gone but members remain), SIGKILL to the group after another
 * `graceMs`; resolves once the leader has exited and the group is empty (or, after SIGKILL, once the
 * wait for reaping runs out).
 */
export async function stopGroup(child: ChildProcess, graceMs = STOP_GRACE_MS): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  const exited = exitOf(child);
  child.stdin?.end();
  const eofWorked = await within(exited, graceMs);
  if (eofWorked && !groupAlive(pgid)) return;
  signalGroup(pgid, 'SIGTERM');
  if (await waitUntil(async () => isGone(child) && !groupAlive(pgid), graceMs)) return;
  signalGroup(pgid, 'SIGKILL');
  await within(exited, AFTER_KILL_MS);
  await waitUntil(async () => !groupAlive(pgid), AFTER_KILL_MS);
}

/** Sends a signal to every process of the group; a group already empty is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Whether any process is left in the group (signal 0; EPERM still means it exists). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isGone(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function exitOf(child: ChildProcess): Promise<void> {
  if (isGone(child)) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.once('error', () => done());
  });
}

/** Waits for `promise` at most `ms`; true when it settled in time. The timer keeps the process alive on purpose. */
function within(promise: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((done) => {
    const timer = setTimeout(() => done(false), ms);
    void promise.then(() => {
      clearTimeout(timer);
      done(true);
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** Polls `check` until it holds or `ms` pass; true when it held. */
async function waitUntil(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= until) return false;
    await delay(GROUP_POLL_MS);
  }
}
