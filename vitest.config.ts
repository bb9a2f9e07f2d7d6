// Three projects (D8): "workers" runs routes, storage and the cron inside workerd with real,
// per-test-isolated KV; "node" runs the pure engines and the CLIs; "e2e" drives Chromium against
// `npm run dev`. Test bindings are set here, never read from .dev.vars.
import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                SITE_URL: 'https://news.test',
                FEED_ID_AUTHORITY: 'news.test,2025',
                TIME_ZONE: 'Europe/London',
                ADMIN_TOKEN: 'test-admin-token',
              },
            },
          }),
        ],
        test: {
          name: 'workers',
          include: ['tests/integration/**/*.test.{ts,tsx}'],
          setupFiles: ['tests/integration/setup.ts'],
        },
      },
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['tests/unit/**/*.test.ts', 'tests/node/**/*.test.ts'],
          globalSetup: ['tests/node/scratch-root.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // A real browser against `npm run dev`: slow to start, so it has its own project.
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['tests/e2e/**/*.test.ts'],
          globalSetup: ['tests/node/scratch-root.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
})
