import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// The browser benchmark (`make bench`, not `make test`): the dashboard with 500 symbols moving
// 10 times a second each, and a whole market of 10,000 symbols. It measures and writes
// target/bench/browser*.json; it asserts only that the page did what is measured, never a speed
// (speed targets live in the report).
const port = Number(process.env.E2E_PORT ?? 3108);
const bin = process.env.LIVETAPE_BIN ?? 'target/release/livetape';
/** The 10,000-symbol server. */
export const bigMarketBench = `http://127.0.0.1:${port + 1}/`;

const server = (base.webServer as any[])[0];
export default defineConfig({
  ...base,
  testDir: './bench',
  timeout: 120_000,
  use: { ...base.use, baseURL: `http://127.0.0.1:${port}`, viewport: { width: 1366, height: 900 } },
  webServer: [
    {
      ...server,
      command: `${bin} --addr 127.0.0.1:${port} --symbols 500 --quote-rate 10 --warmup-secs 30`,
      url: `http://127.0.0.1:${port}/`,
      reuseExistingServer: false,
    },
    {
      ...server,
      // 10,000 symbols at the simulator's default rates (3 quote moves a second each).
      command: `${bin} --addr 127.0.0.1:${port + 1} --symbols 10000 --warmup-secs 5`,
      url: `http://127.0.0.1:${port + 1}/`,
      reuseExistingServer: false,
    },
  ],
});
