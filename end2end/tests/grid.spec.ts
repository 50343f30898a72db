import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { bigMarket } from '../playwright.config';

// A market of 500 symbols: the server renders every row; after hydration the browser keeps
// only the rows in view in the DOM (src/ui/market.rs), and scrolling brings the others in.

test('the server renders a few live rows, and all 500 in the snapshot for the page without JavaScript', async ({ request }) => {
  const html = await (await request.get(bigMarket)).text();
  const snapshot = html.match(/<noscript><div class="table-wrap snapshot">[\s\S]*?<\/noscript>/)?.[0] ?? '';
  const live = html.replace(/<noscript>[\s\S]*?<\/noscript>/g, '');
  const count = (part: string) => (part.match(/<tr\b[^>]*\bdata-symbol="/g) ?? []).length;
  // Hydration walks only the live rows (src/ui/market.rs, HYDRATED_ROWS).
  expect(count(live)).toBe(24);
  expect(count(snapshot)).toBe(500);
});

test('a large grid is windowed after hydration and scrolls through every row', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(bigMarket);
  await expect(page.locator('.pill')).toHaveAttribute('data-state', 'live');
  await expect(page.locator('.market .count')).toHaveText('500 symbols');
  await expect(page.locator('table.quotes')).toHaveAttribute('aria-rowcount', '501');
  const rows = page.locator('table.quotes tbody tr[data-symbol]');
  await expect.poll(() => rows.count()).toBeLessThan(100);
  expect(await rows.count()).toBeGreaterThan(10);
  await expect(rows.first()).toHaveAttribute('aria-rowindex', '2');

  // The scroll height still stands for all 500 rows.
  const wrap = page.locator('.table-wrap');
  const rowPx = await rows.first().evaluate((r) => r.getBoundingClientRect().height);
  const scrollHeight = await wrap.evaluate((w) => w.scrollHeight);
  expect(scrollHeight).toBeGreaterThan(rowPx * 490);

  // Scrolled to the middle: the rows there are rendered, with their true positions.
  await wrap.evaluate((w, px) => (w.scrollTop = px * 250), rowPx);
  await expect.poll(() => rows.first().getAttribute('aria-rowindex').then(Number)).toBeGreaterThan(200);
  const middle = page.locator('table.quotes tbody tr[aria-rowindex="252"]');
  await expect(middle).toBeInViewport();
  // ...and still live: its last price changes in place.
  const before = await middle.locator('td.last').innerText();
  await expect.poll(() => middle.locator('td.last').innerText(), { timeout: 15_000 }).not.toBe(before);

  // The windowed grid (spacer rows, aria-rowcount/rowindex) passes axe like the full one.
  const axe = await new AxeBuilder({ page }).include('.market').analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help} ${v.nodes[0]?.target}`)).toEqual([]);
  await page.screenshot({ path: 'test-results/grid-500-scrolled.png' });

  // At the bottom: the last row.
  await wrap.evaluate((w) => (w.scrollTop = w.scrollHeight));
  await expect(rows.last()).toHaveAttribute('aria-rowindex', '501');
  await expect(rows.last()).toBeInViewport();

  // A filter that leaves few rows renders them all.
  await page.getByPlaceholder('Filter symbols').fill('AAPL');
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute('data-symbol', 'AAPL');
  await page.getByPlaceholder('Filter symbols').fill('');
  await expect.poll(() => rows.count()).toBeGreaterThan(10);
  expect(await rows.count()).toBeLessThan(100);
  expect(errors).toEqual([]);
});
