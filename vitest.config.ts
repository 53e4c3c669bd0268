import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn the CLI and open DuckDB files; two workers match the 2-core machines we run on.
    pool: 'forks',
    maxWorkers: 2,
  },
});
