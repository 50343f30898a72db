import { test, expect, type Page } from '@playwright/test';

/** The last prices of every row, in order. */
async function lastPrices(page: Page): Promise<string[]> {
  return page.locator('tbody tr[data-symbol] td.last').allInnerTexts();
}

test('the server HTML carries the live market and scores before any script runs', async ({ request }) => {
  const res = await request.get('/');
  expect(res.status()).toBe(200);
  const html = await res.text();
  const rows = html.match(/<tr\b[^>]*\bdata-symbol="/g) ?? [];
  expect(rows.length).toBeGreaterThanOrEqual(50);
  const games = html.match(/<li\b[^>]*\bclass="game"/g) ?? [];
  expect(games.length).toBeGreaterThanOrEqual(4);
  // Prices are rendered, not placeholders.
  const lasts = html.match(/<td class="num last[^"]*">(?:<span[^>]*>[^<]*<\/span>)?[\d,]+\.\d\d</g) ?? [];
  expect(lasts.length).toBe(rows.length);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the page is an honest snapshot: when it was taken, nothing that needs a script', async ({ page }) => {
    await page.goto('/');
    await expect(page.getByRole('heading', { name: 'Market' })).toBeVisible();
    // It says what it is, and when.
    await expect(page.locator('.no-js-note')).toHaveText(
      /^Snapshot of \d\d:\d\d:\d\d UTC\. Live prices and scores need JavaScript\.$/,
    );
    await expect(page.getByText('Connecting…')).toBeHidden();
    // No control that cannot work: pause, alerts, theme, sorting, filtering, stars, intervals.
    for (const name of ['Pause', 'Alerts', /^Theme/, /^Watch /, /^Chart /, /^Symbol/, '1s', '1m', 'Times in UTC', 'Add alert', 'Manage lists', 'This list only', /^Follow /, 'Back to live']) {
      await expect(page.getByRole('button', { name })).toHaveCount(0);
    }
    await expect(page.getByRole('searchbox')).toHaveCount(0);
    await expect(page.locator('.feed-facts .gaps')).toBeHidden();
    // A page of the market (a screenful and some), and plain links through the rest.
    const rows = page.locator('.snapshot table.quotes tbody tr[data-symbol]');
    await expect(rows).toHaveCount(30);
    await expect(page.locator('.snapshot .pages')).toContainText('Rows 1–30 of 60 symbols.');
    // Real tickers at the levels a trader knows (2025, broadly).
    const last = async (sym: string) =>
      Number((await rows.filter({ has: page.locator(`th:text-is("${sym}")`) }).locator('td.last').innerText()).replace(/,/g, ''));
    for (const [sym, low, high] of [
      ['AAPL', 170, 290],
      ['MSFT', 350, 560],
      ['NVDA', 100, 220],
      ['JPM', 190, 330],
      ['WMT', 75, 120],
    ] as const) {
      const price = await last(sym);
      expect(price, sym).toBeGreaterThan(low);
      expect(price, sym).toBeLessThan(high);
    }
    await expect(page.locator('li.game')).toHaveCount(6);
    await expect(page.locator('li.game').first().locator('.score')).toHaveCount(2);
    // Everything is populated before any script: tape, sparklines, chart, trades.
    expect(await page.locator('.tape-list').first().locator('.tape-item').count()).toBeGreaterThan(5);
    expect(await rows.first().locator('svg.spark polyline').getAttribute('points')).toMatch(/\d/);
    expect(Number(await page.locator('svg.candles').getAttribute('data-count'))).toBeGreaterThan(0);
    await expect(page.locator('.detail-sym')).toHaveText('AAPL');
    await page.screenshot({ path: 'test-results/dashboard-no-js.png', fullPage: false });
    await page.setViewportSize({ width: 360, height: 760 });
    await page.screenshot({ path: 'test-results/dashboard-no-js-mobile.png' });
    await page.getByRole('link', { name: 'Rows 31–60 →' }).click();
    await expect(page).toHaveURL(/\?offset=30$/);
    await expect(rows).toHaveCount(30);
    await expect(rows.first().locator('th')).not.toHaveText('AAPL');
    await expect(page.getByRole('link', { name: '← Rows 1–30' })).toBeVisible();
  });
});

test('after hydration prices update in place, the indicator says Live, no console errors', async ({ page }) => {
  // The feed's handshake as Chromium made it: it offers permessage-deflate on its own, and
  // the server agrees, so everything below runs on compressed frames.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const extensions: string[] = [];
  cdp.on('Network.webSocketHandshakeResponseReceived', (e: any) => {
    const h = e.response?.headers ?? {};
    const key = Object.keys(h).find((k) => k.toLowerCase() === 'sec-websocket-extensions');
    extensions.push(key ? String(h[key]) : '');
  });
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));

  await page.goto('/');
  const pill = page.locator('.pill');
  await expect(pill).toHaveAttribute('data-state', 'live');
  await expect(pill).toHaveText('Live');

  // The same row elements stay in the DOM while their text changes: in-place updates.
  const firstRow = page.locator('table.quotes tbody tr[data-symbol]').first();
  await firstRow.evaluate((el) => ((window as any).__firstRow = el));
  const before = await lastPrices(page);
  await expect
    .poll(async () => {
      const now = await lastPrices(page);
      return now.filter((p, i) => p !== before[i]).length;
    }, { timeout: 10_000 })
    .toBeGreaterThanOrEqual(5);
  const sameNode = await firstRow.evaluate((el) => (window as any).__firstRow === el);
  expect(sameNode).toBe(true);

  // The update counter moves with the stream, and no gap was seen.
  const count = async () => Number((await page.locator('.updates').innerText()).replace(/,/g, ''));
  const updates1 = await count();
  await expect.poll(count).toBeGreaterThan(updates1);
  await expect(page.locator('.gaps')).toHaveText('0');

  await page.screenshot({ path: 'test-results/dashboard-desktop.png', fullPage: false });
  expect(problems).toEqual([]);
  expect(extensions.length).toBeGreaterThan(0);
  expect(extensions[0]).toContain('permessage-deflate; server_no_context_takeover');
});

test('a live game clock runs in the browser between server updates', async ({ page }) => {
  await page.goto('/');
  await expect(page.locator('.pill')).toHaveAttribute('data-state', 'live');
  const live = page.locator('li.game', { has: page.locator('.badge.live', { hasText: 'Live' }) }).first();
  await expect(live).toBeVisible();
  const clock = live.locator('.clock');
  const first = await clock.innerText();
  await expect.poll(() => clock.innerText(), { timeout: 5_000 }).not.toBe(first);
});

test('the page fits a phone screen without sideways scrolling', async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto('/');
  await expect(page.locator('.pill')).toHaveAttribute('data-state', 'live');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: 'test-results/dashboard-mobile.png' });
});
