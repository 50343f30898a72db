import { defineConfig } from '@playwright/test';

// The server under test. `make test` builds the release binary and sets E2E_PORT so the run does
// not collide with a dashboard already open on :3000. Under `cargo leptos end2end` (no CI
// variable) the server cargo-leptos started on :3000 is reused.
const port = Number(process.env.E2E_PORT ?? 3000);
const bin = process.env.LIVETAPE_BIN ?? 'target/release/livetape';
/** The whole market (10,000 symbols), for tests of the windowed grid: tests/grid.spec.ts. */
export const bigMarket = `http://127.0.0.1:${port + 2}/`;

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    browserName: 'chromium',
    screenshot: 'only-on-failure',
    launchOptions: {
      // Debian's Chromium: `npx playwright install` cannot download a browser here.
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: [
    {
      command: `${bin} --addr 127.0.0.1:${port}`,
      cwd: '..',
      url: `http://127.0.0.1:${port}/`,
      reuseExistingServer: !process.env.CI,
      timeout: 60_000,
      stdout: 'ignore',
      stderr: 'pipe',
    },
    {
      // A whole market (10,000 symbols): tests/grid.spec.ts.
      command: `${bin} --addr 127.0.0.1:${port + 2} --symbols 10000 --warmup-secs 5`,
      cwd: '..',
      url: `http://127.0.0.1:${port + 2}/`,
      reuseExistingServer: !process.env.CI,
      timeout: 60_000,
      stdout: 'ignore',
      stderr: 'pipe',
    },
  ],
});
