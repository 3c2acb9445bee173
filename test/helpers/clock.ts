// A test clock for a spawned gateway (src/model/clock.ts): the gateway's task clock is the system clock
// plus the offset in a file this helper writes, honoured only with NODE_ENV=test. A test moves time
// forward and then waits for what that causes, never for a timer.
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, type TempDir } from './process.js';

export interface TestClock {
  /** The environment that makes a gateway use this clock. */
  env: Record<string, string>;
  /** Moves the gateway's clock forward by `ms` (offsets add up; the clock never goes back). */
  advance(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

export async function makeTestClock(): Promise<TestClock> {
  const dir: TempDir = await makeTempDir('warden-clock');
  const file = join(dir.path, 'offset');
  let offset = 0;
  let writes = 0;
  await writeFile(file, '0');
  return {
    env: { MCP_WARDEN_TEST_CLOCK: file, NODE_ENV: 'test' },
    async advance(ms: number) {
      offset += ms;
      // Written whole and renamed into place: the gateway never reads half a number.
      const next = join(dir.path, `offset.${++writes}`);
      await writeFile(next, String(offset));
      await rename(next, file);
    },
    cleanup: () => dir.cleanup(),
  };
}
