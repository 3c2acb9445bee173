import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';

const WAIT_STEP_MS = 5;
const WAIT_MAX_MS = 10_000;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs `work` holding `<file>.lock`, a lock file made with O_EXCL that holds the owner's pid, so that
 * several processes (two gateways, each with its own launched tickets server) change one data file
 * in turn. A lock whose owner is gone is taken over; one held longer than 10 s is an error.
 */
export function withFileLock<T>(file: string, work: () => T): T {
  const lock = `${file}.lock`;
  const until = Date.now() + WAIT_MAX_MS;
  let fd: number | undefined;
  while (fd === undefined) {
    try {
      fd = openSync(lock, 'wx', 0o600);
      writeSync(fd, String(process.pid));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (ownerGone(lock)) rmSync(lock, { force: true });
      else if (Date.now() > until) throw new Error(`${lock}: held by another process for more than ${WAIT_MAX_MS} ms`);
      else Atomics.wait(sleeper, 0, 0, WAIT_STEP_MS);
    }
  }
  try {
    return work();
  } finally {
    closeSync(fd);
    rmSync(lock, { force: true });
  }
}

function ownerGone(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(lock, 'utf8'));
  } catch {
    return false; // just removed, or being written: try again
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
