// The task clock (src/model/clock.ts): the system clock, or a test clock moved by a file that is
// honoured only with NODE_ENV=test. Real files and real fs events; no timer is waited out.
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_CLOCK_ENV, clockFromEnv, fileClock } from '../../src/model/clock.js';
import { makeTestClock } from '../helpers/clock.js';

const HOUR = 3_600_000;

describe('clockFromEnv', () => {
  it.each([
    ['no variable', {}, false, undefined],
    [
      'the variable without NODE_ENV=test',
      { [TEST_CLOCK_ENV]: '/tmp/x', NODE_ENV: 'production' },
      false,
      /ignored: a test clock is honoured only with NODE_ENV=test/,
    ],
    ['the variable with NODE_ENV unset', { [TEST_CLOCK_ENV]: '/tmp/x' }, false, /ignored/],
    [
      'the variable with NODE_ENV=test',
      { [TEST_CLOCK_ENV]: '/nonexistent/offset', NODE_ENV: 'test' },
      true,
      /test clock in force/,
    ],
  ])('%s', (_name, env, isTest, said) => {
    const lines: string[] = [];
    const clock = clockFromEnv(env, (line) => lines.push(line));
    try {
      expect(lines).toHaveLength(said ? 1 : 0);
      if (said) expect(lines[0]).toMatch(said);
      // A missing file is an offset of 0: either way the clock reads the system time now.
      const before = Date.now();
      expect(clock.now()).toBeGreaterThanOrEqual(before);
      expect(clock.now()).toBeLessThan(before + HOUR);
      expect(isTest).toBe(lines.some((line) => line.startsWith('test clock in force')));
    } finally {
      clock.close();
    }
  });
});

describe('fileClock', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it('moves by the offset written, never backwards, and runs what falls due when the file changes', async () => {
    const test = await makeTestClock();
    cleanups.push(test.cleanup);
    const clock = fileClock(test.env[TEST_CLOCK_ENV]!);
    try {
      const start = clock.now();
      const due = start + HOUR;
      const fired = new Promise<number>((resolve) => clock.at(due, () => resolve(clock.now())));
      let cancelledRan = false;
      const cancel = clock.at(due, () => (cancelledRan = true));
      cancel();

      await test.advance(HOUR);
      expect(await fired).toBeGreaterThanOrEqual(due); // ran on the file event, an hour early in real time
      expect(cancelledRan).toBe(false);
      expect(clock.now() - Date.now()).toBeGreaterThanOrEqual(HOUR - 1);
    } finally {
      clock.close();
    }
  });

  it('ignores a smaller or unreadable offset', async () => {
    const test = await makeTestClock();
    cleanups.push(test.cleanup);
    const file = test.env[TEST_CLOCK_ENV]!;
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, String(2 * HOUR));
    const clock = fileClock(file);
    try {
      expect(clock.now() - Date.now()).toBeGreaterThanOrEqual(2 * HOUR - 1);
      for (const text of [String(HOUR), 'soon', '-5', '']) {
        await writeFile(file, text);
        expect(clock.now() - Date.now()).toBeGreaterThanOrEqual(2 * HOUR - 1);
      }
    } finally {
      clock.close();
    }
  });
});
