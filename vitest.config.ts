import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts', 'servers/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    fileParallelism: true,
    // Three files at a time on the 2-core machine: many tests spend seconds waiting on a process (stop
    // grace periods, backoff), and with two workers the CPU sat at about 170% of 200%.
    maxWorkers: 3,
  },
});
