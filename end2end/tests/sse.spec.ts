import { test, expect, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { type ChildProcess } from 'node:child_process';
import { startLivetape } from './livetape';

// WebSockets blocked on the way (as some proxies and antivirus software do): the dashboard
// falls back to Server-Sent Events by itself, and moves back when WebSockets work again.
// This test runs its own server so that it can restart it.
const port = Number(process.env.E2E_PORT ?? 3000) + 3;

function startServer(): Promise<ChildProcess> {
  return startLivetape(port, ['--warmup-secs', '20']);
}

const updates = async (page: Page) =>
  Number((await page.locator('.updates').innerText()).replace(/,/g, ''));

test('WebSocket blocked: Live over SSE within 5 s, through a restart, and back to WebSocket when it works', async ({ page }) => {
  test.setTimeout(90_000);
  let server = await startServer();
  let blocked = true;
  let attempts = 0;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    attempts += 1;
    if (blocked) ws.close();
    else ws.connectToServer();
  });
  try {
    const started = Date.now();
    await page.goto(`http://127.0.0.1:${port}/`);
    const pill = page.locator('.pill');
    await expect(pill).toHaveAttribute('data-transport', 'sse', { timeout: 5_000 });
    await expect(pill).toHaveAttribute('data-state', 'live', { timeout: 5_000 });
    const liveAfter = Date.now() - started;
    console.log(`WebSocket blocked: Live over SSE ${liveAfter} ms after navigation (${attempts} WebSocket attempts)`);
    expect(liveAfter).toBeLessThan(5_000);
    await expect(pill).toHaveText('Live · SSE');
    const price = await page.locator('table.quotes tbody tr[data-symbol] td.last').first().innerText();
    await expect.poll(() => updates(page)).toBeGreaterThan(30);
    await expect
      .poll(() => page.locator('table.quotes tbody tr[data-symbol] td.last').first().innerText(), { timeout: 15_000 })
      .not.toBe(price);
    await expect(page.locator('.gaps')).toHaveText('0');
    await page.screenshot({ path: 'test-results/sse-live.png' });

    // The server restarts: the stream comes back by itself, in the new epoch.
    server.kill('SIGKILL');
    await expect(pill).toHaveAttribute('data-state', 'reconnecting', { timeout: 10_000 });
    server = await startServer();
    await expect(pill).toHaveAttribute('data-state', 'live', { timeout: 20_000 });
    await expect(pill).toHaveAttribute('data-transport', 'sse');
    const before = await updates(page);
    await expect.poll(() => updates(page)).toBeGreaterThan(before + 20);
    await expect(page.locator('.gaps')).toHaveText('0');

    // WebSockets get through again: the page moves back to one, without a gap.
    blocked = false;
    await expect(pill).toHaveAttribute('data-transport', 'ws', { timeout: 30_000 });
    await expect(pill).toHaveText('Live');
    const after = await updates(page);
    await expect.poll(() => updates(page)).toBeGreaterThan(after + 20);
    await expect(page.locator('.gaps')).toHaveText('0');
  } finally {
    server.kill('SIGKILL');
  }
});

test('?transport=sse uses the event stream from the start', async ({ page }) => {
  const server = await startServer();
  try {
    await page.goto(`http://127.0.0.1:${port}/?transport=sse`);
    const pill = page.locator('.pill');
    await expect(pill).toHaveAttribute('data-state', 'live');
    await expect(pill).toHaveAttribute('data-transport', 'sse');
    await expect.poll(() => updates(page)).toBeGreaterThan(20);
    // The transport badge reads well in both themes.
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      const results = await new AxeBuilder({ page }).include('.topbar').analyze();
      expect(results.violations.map((v) => `${scheme}: ${v.id} ${v.nodes[0]?.target}`)).toEqual([]);
    }
    // Choosing another symbol reopens the stream with its channels: the chart fills in.
    await page.locator('table.quotes').getByRole('button', { name: 'Chart MSFT' }).click();
    await expect(page.locator('.detail-sym')).toHaveText('MSFT');
    // The address follows the view and keeps the forced transport: a reload stays on SSE.
    await expect(page).toHaveURL(/\?symbol=MSFT&transport=sse$/);
    await expect.poll(async () => Number(await page.locator('svg.candles').getAttribute('data-count'))).toBeGreaterThan(0);
    await expect(page.locator('.gaps')).toHaveText('0');
  } finally {
    server.kill('SIGKILL');
  }
});
