// Helpers for tests that run real processes: spawn and wait for a ready line, wait for a PID to
// exit, make a temp dir. Waiting is always polling or event-driven with a bounded deadline.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const POLL_MS = 20;
const STDERR_KEEP_CHARS = 16_384;

/**
 * The deadline of every wait in the test helpers unless a test names its own: a guard against a hang,
 * never a measure of speed. Tests wait for an event (a ready line, an exit, a notification, a row);
 * on a loaded machine it comes late, not never, so the guard is far beyond what any of them takes on
 * an idle one (the longest, a start-up that waits out a connect timeout, about 10 s) and below the
 * test timeout (vitest.config.ts), so a hang still fails with the name of what never happened.
 */
export const HANG_GUARD_MS = 60_000;

export interface SpawnReadyOptions {
  /** Extra environment, merged over process.env (a value of undefined removes the variable). */
  env?: Record<string, string | undefined>;
  /** Matched against each stdout line; the first match means ready. */
  readyPattern: RegExp;
  /** Deadline for the ready line (default HANG_GUARD_MS). */
  timeoutMs?: number;
  cwd?: string;
}

export interface ReadyProcess {
  child: ChildProcessWithoutNullStreams;
  /** The match of readyPattern against the ready line. */
  match: RegExpExecArray;
  /** The named group `url` of the match, else its first group, else the first http(s) URL on the line. */
  url: string | undefined;
  /** Everything the process has written to stderr so far (last 16 KiB). */
  stderr: () => string;
  /** Resolves with the exit code and signal once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs` (default 3 s); resolves once the process is gone. */
  stop: (graceMs?: number) => Promise<void>;
}

/**
 * Spawns `cmd args` (no shell; stdin, stdout and stderr are pipes) and resolves once a stdout line
 * matches `readyPattern`. Rejects, killing the child, if it exits or the deadline passes first.
 */
export function spawnReady(cmd: string, args: string[], options: SpawnReadyOptions): Promise<ReadyProcess> {
  const timeoutMs = options.timeoutMs ?? HANG_GUARD_MS;
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  const child = spawn(cmd, args, { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });

  let stderrText = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderrText = (stderrText + chunk).slice(-STDERR_KEEP_CHARS);
  });
  const stderr = (): string => stderrText;

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  // Longer than the gateway's own shutdown (EOF, then SIGTERM, then SIGKILL to each server's group,
  // src/downstream/process-group.ts): killing it sooner orphans the servers it was still stopping.
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  return new Promise<ReadyProcess>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    let settled = false;
    const finish = (error: Error | undefined, ready?: ReadyProcess): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        lines.close();
        void stop(500).then(() => reject(error));
      } else if (ready) {
        resolve(ready);
      }
    };
    const timer = setTimeout(
      () => finish(new Error(`${cmd} ${args.join(' ')}: no ready line within ${timeoutMs} ms\nstderr:\n${stderrText}`)),
      timeoutMs,
    );
    lines.on('line', (line) => {
      if (settled) return;
      const match = options.readyPattern.exec(line);
      if (match === null) return;
      const url = match.groups?.['url'] ?? match[1] ?? /https?:\/\/\S+/.exec(line)?.[0];
      finish(undefined, { child, match, url, stderr, exited, stop });
    });
    child.once('error', (error) => finish(error));
    void exited.then(({ code, signal }) =>
      finish(
        new Error(
          `${cmd} ${args.join(' ')} exited (code ${code}, signal ${signal}) before ready\nstderr:\n${stderrText}`,
        ),
      ),
    );
  });
}

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` (no shell) to completion; kills it and rejects if it is still running after `timeoutMs`. */
export function runToExit(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<ExitResult> {
  const timeoutMs = options.timeoutMs ?? HANG_GUARD_MS;
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-STDERR_KEEP_CHARS)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: still running after ${timeoutMs} ms\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** True while a process with this PID exists (signal 0 probe; EPERM still means it exists). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls until `pid` is gone; rejects if it is still alive after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs = HANG_GUARD_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) throw new Error(`process ${pid} still alive after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Polls `check` until it returns a truthy value; rejects with `what` after `timeoutMs`. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = HANG_GUARD_MS,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export interface TempDir {
  path: string;
  cleanup: () => Promise<void>;
}

/** Creates a fresh directory under the OS temp dir; `cleanup()` removes it and everything in it. */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `${prefix.replace(/[^A-Za-z0-9._-]/g, '_')}-`));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** Counts the starts of a Node program: `importArg` preloaded (`node --import …`) appends a line per start. */
export interface SpawnCounter {
  /** The `--import` value to put before the program's entry. */
  importArg: string;
  count(): number;
  cleanup(): Promise<void>;
}

export async function makeSpawnCounter(): Promise<SpawnCounter> {
  const dir = await makeTempDir('warden-spawns');
  const spawns = join(dir.path, 'spawns.txt');
  writeFileSync(spawns, '');
  const marker = join(dir.path, 'count-spawn.mjs');
  writeFileSync(
    marker,
    `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(spawns)}, process.pid + '\\n');\n`,
  );
  return {
    importArg: pathToFileURL(marker).href,
    count: () => readFileSync(spawns, 'utf8').split('\n').filter(Boolean).length,
    cleanup: () => dir.cleanup(),
  };
}
