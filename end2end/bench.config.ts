import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// The browser benchmark (`make bench`, not `make test`): the dashboard with 500 symbols moving
// 10 times a second each. It measures and writes target/bench/browser.json; it asserts only that
// the page is live and shows every symbol, never a speed (speed targets live in the report).
const port = Number(process.env.E2E_PORT ?? 3108);
const bin = process.env.LIVETAPE_BIN ?? 'target/release/livetape';

export default defineConfig({
  ...base,
  testDir: './bench',
  timeout: 120_000,
  use: { ...base.use, baseURL: `http://127.0.0.1:${port}`, viewport: { width: 1366, height: 900 } },
  webServer: {
    ...(base.webServer as any[])[0],
    command: `${bin} --addr 127.0.0.1:${port} --symbols 500 --quote-rate 10 --warmup-secs 30`,
    url: `http://127.0.0.1:${port}/`,
    reuseExistingServer: false,
  },
});
