import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'servers/**/*.test.ts'],
    // Hang guards, not speed checks (speed is measured in `npm run bench`): a test that does real work
    // with real processes (a SIGKILL under load, a second gateway, a PostgreSQL round) takes three
    // times as long on a loaded machine, and its pass must not depend on that. Test files do not set
    // their own lower limits; the suite's wall time is watched as a whole (README, "Tests").
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // One module graph per worker, reused from file to file: a fresh one per file spent about 100 s of
    // the idle suite importing vitest, the helpers and src/ again (488 s → 440 s whole, 2026-12-06).
    // Test files therefore leave no global state behind: env variables they set are their own names and
    // are removed in afterAll; no file mocks modules or fakes timers globally.
    isolate: false,
    fileParallelism: true,
    // Three files at a time on the 2-core machine: many tests spend seconds waiting on a process (stop
    // grace periods, backoff), and with two workers the CPU sat at about 170% of 200%.
    maxWorkers: 3,
  },
});
