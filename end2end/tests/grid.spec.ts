import { test, expect, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { bigMarket } from '../playwright.config';
import { sentBytes } from './livetape';

// A whole market: 10,000 symbols. The server renders the first screenful; the browser keeps
// only the rows in view (and an overscan) in the DOM and streams only its window of the
// server's ranking (src/ui/grid.rs, src/ui/market.rs). What the page shows is checked against
// the server's own state, asked for through the protocol (a second WebSocket), never against
// what the page already holds.

const UNIVERSE = 10_000;
/** Rows rendered beyond those in view, above and below (`OVERSCAN` in src/ui/grid.rs). */
const OVERSCAN = 4;
const rowsOf = (page: Page) => page.locator('table.quotes tbody tr[data-row]');
const quoteRows = (page: Page) => page.locator('table.quotes tbody tr[data-symbol]');
const shot = (page: Page, name: string) => page.screenshot({ path: `test-results/market-10k-${name}.png` });

/** The response body's size as sent, with the encoding a browser asks for. */
/** Asks the server, over a WebSocket of its own, for a window of a ranking (a `view`) and
 * returns the first `rows` answer's symbols and total. */
async function serverRanking(page: Page, spec: Record<string, unknown>): Promise<{ symbols: string[]; total: number }> {
  return page.evaluate(
    ({ url, spec }) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        const timer = setTimeout(() => reject(new Error('no rows from the server')), 5_000);
        ws.onmessage = (e) => {
          const m = JSON.parse(e.data);
          if (m.type === 'welcome') ws.send(JSON.stringify({ type: 'view', id: 1, view: 1, ...spec }));
          if (m.type === 'rows') {
            clearTimeout(timer);
            ws.close();
            resolve({ symbols: m.symbols, total: m.total });
          }
          if (m.type === 'error') reject(new Error(JSON.stringify(m)));
        };
      }),
    { url: bigMarket.replace('http', 'ws') + 'ws', spec },
  );
}

/** The universe's symbols from `offset` on, asked of the server (`symbols`). */
async function serverSymbols(page: Page, offset: number, limit: number): Promise<string[]> {
  return page.evaluate(
    ({ url, offset, limit }) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url);
        const timer = setTimeout(() => reject(new Error('no symbols from the server')), 5_000);
        ws.onmessage = (e) => {
          const m = JSON.parse(e.data);
          if (m.type === 'welcome') ws.send(JSON.stringify({ type: 'symbols', id: 1, offset, limit }));
          if (m.type === 'symbols') {
            clearTimeout(timer);
            ws.close();
            resolve(m.symbols);
          }
        };
      }),
    { url: bigMarket.replace('http', 'ws') + 'ws', offset, limit },
  );
}

test('the first page of a 10,000-symbol market is light and renders a screenful from live state', async ({ request }) => {
  const html = await (await request.get(bigMarket)).text();
  const live = html.replace(/<noscript>[\s\S]*?<\/noscript>/g, '');
  const count = (part: string) => (part.match(/<tr\b[^>]*\bdata-symbol="/g) ?? []).length;
  // A screenful and some (src/ui/grid.rs, FIRST_ROWS), never the universe.
  expect(count(live)).toBe(30);
  expect(html).toContain('10,000 symbols');
  const br = await sentBytes(bigMarket, 'br');
  expect(br.encoding).toBe('br');
  expect(br.bytes).toBeLessThan(100_000);
  const raw = await sentBytes(bigMarket, 'identity');
  console.log(`page at ${UNIVERSE} symbols: ${raw.bytes} B, ${br.bytes} B brotli`);
});

test('the grid goes live, scrolls through all 10,000 symbols with a bounded DOM, and the last one is live', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const started = Date.now();
  await page.goto(bigMarket);
  await expect(page.locator('.pill')).toHaveAttribute('data-state', 'live');
  console.log(`live ${Date.now() - started} ms after navigation`);
  await expect(page.locator('.market .count')).toHaveText('10,000 symbols');
  await expect(page.locator('table.quotes')).toHaveAttribute('aria-rowcount', String(UNIVERSE + 1));
  await shot(page, 'top');

  // The scrollbar is the universe's.
  const wrap = page.locator('.market .table-wrap');
  const rowPx = await rowsOf(page).first().evaluate((r) => r.getBoundingClientRect().height);
  expect(await wrap.evaluate((w) => w.scrollHeight)).toBeGreaterThan(rowPx * (UNIVERSE - 10));

  // Scroll from the top to the bottom in screenfuls: the DOM stays bounded all the way.
  let most = 0;
  const height = await wrap.evaluate((w) => w.clientHeight);
  for (let y = 0, step = 0; step < 25; step++, y += Math.round((rowPx * UNIVERSE) / 25)) {
    await wrap.evaluate((w, y) => (w.scrollTop = y), y);
    await page.waitForTimeout(60);
    most = Math.max(most, await rowsOf(page).count());
  }
  expect(most).toBeLessThan(Math.ceil(height / rowPx) + 2 * OVERSCAN + 4);

  // At the bottom: the last symbol of the universe, in view, its quote live.
  await wrap.evaluate((w) => (w.scrollTop = w.scrollHeight));
  const last = page.locator(`table.quotes tbody tr[aria-rowindex="${UNIVERSE + 1}"]`);
  await expect(last).toBeInViewport();
  const [lastSymbol] = await serverSymbols(page, UNIVERSE - 1, 1);
  await expect(last).toHaveAttribute('data-symbol', lastSymbol);
  await expect(last.locator('td.bid')).not.toHaveText('…');
  // Its sparkline is the server's history of it (a point every 2 s since the server started,
  // warmed up 5 s), not one started when its row arrived.
  const sparkPoints = await last.locator('polyline').evaluate((p) => p.getAttribute('points')!.split(' ').length);
  expect(sparkPoints).toBeGreaterThanOrEqual(3);
  const bid = await last.locator('td.bid').innerText();
  await expect.poll(() => last.locator('td.bid').innerText(), { timeout: 15_000 }).not.toBe(bid);
  expect(await rowsOf(page).count()).toBeLessThan(Math.ceil(height / rowPx) + 2 * OVERSCAN + 4);
  await shot(page, 'bottom');

  // With no watchlist, the tape is the market's movers as the breadth panel lists them (most
  // active, gainers, losers, each once), wherever the grid is scrolled: not its rows.
  const tapeAndMovers = () =>
    page.evaluate(() => {
      const text = (sel: string) => [...document.querySelectorAll(sel)].map((e) => e.textContent!.trim());
      const tape = text('.tape-list:not([aria-hidden]) .tape-sym');
      const movers = [...new Set(['active', 'gainers', 'losers'].flatMap((c) => text(`.breadth .movers.${c} li button.pick`)))];
      return { tape, movers, rows: text('table.quotes tbody tr[data-symbol] .pick') };
    });
  await expect.poll(async () => {
    const { tape, movers } = await tapeAndMovers();
    return tape.length > 5 && JSON.stringify(tape) === JSON.stringify(movers);
  }).toBe(true);
  const { tape, rows } = await tapeAndMovers();
  expect(tape.filter((s) => rows.includes(s)).length).toBeLessThan(tape.length);

  // The keyboard scrolls the universe: Home to the first row, End to the last.
  await wrap.focus();
  await page.keyboard.press('Home');
  await expect(page.locator('table.quotes tbody tr[aria-rowindex="2"]')).toBeInViewport();
  await page.keyboard.press('End');
  await expect(last).toBeInViewport();
  await page.keyboard.press('PageUp');
  await expect(last).not.toBeInViewport();
  expect(errors).toEqual([]);
});

test('sorting ranks the whole universe on the server, and the filter finds any symbol', async ({ page }) => {
  await page.goto(bigMarket);
  await page.evaluate(() => localStorage.clear());
  await page.goto(bigMarket);
  await expect(page.locator('.pill')).toHaveAttribute('data-state', 'live');
  const header = page.locator('th', { has: page.getByRole('button', { name: /^% Chg/ }) });
  await header.getByRole('button').click();
  await expect(header).toHaveAttribute('aria-sort', 'descending');
  // The page's first rows are the universe's largest movers in the server's order, as the
  // server ranks them now (a tick may reorder them between the two reads: ask again until
  // they agree). The pointer stays off the rows, which would hold the order.
  await page.mouse.move(0, 0);
  await expect
    .poll(
      async () => {
        const server = await serverRanking(page, { sort: 'change_pct', desc: true, offset: 0, limit: 5 });
        const shown = (await quoteRows(page).evaluateAll((rows) => rows.slice(0, 5).map((r) => r.getAttribute('data-symbol')))).join(' ');
        return shown === server.symbols.join(' ') ? 'agree' : `${shown} vs ${server.symbols.join(' ')}`;
      },
      { timeout: 10_000 },
    )
    .toBe('agree');
  const top = Number((await quoteRows(page).first().locator('td.pct').innerText()).replace(/[^\d.-]/g, ''));
  const tenth = Number((await quoteRows(page).nth(9).locator('td.pct').innerText()).replace(/[^\d.-]/g, ''));
  expect(top).toBeGreaterThan(tenth);
  await shot(page, 'sorted');

  // The filter searches the universe, not the rows the page holds.
  const near = (await serverSymbols(page, UNIVERSE - 3, 1))[0];
  await page.getByPlaceholder('Filter symbols').fill(near);
  await expect(quoteRows(page).first()).toHaveAttribute('data-symbol', near);
  await expect(page.locator('.market .count')).toHaveText(/^\d+ of 10,000 symbols$/);
  await shot(page, 'filtered');
  await page.getByPlaceholder('Filter symbols').fill('');
  await expect(page.locator('.market .count')).toHaveText('10,000 symbols');
});

test('the breadth panel is the whole market\'s and moves; the page passes axe', async ({ page }) => {
  await page.goto(bigMarket);
  await expect(page.locator('.pill')).toHaveAttribute('data-state', 'live');
  const breadth = page.locator('.breadth');
  await expect(breadth.locator('li').first()).toBeVisible();
  const counts = breadth.locator('.counts');
  const before = await counts.innerText();
  const total = (s: string) => (s.match(/\d[\d,]*/g) ?? []).reduce((a, n) => a + Number(n.replace(/,/g, '')), 0);
  expect(total(before)).toBe(UNIVERSE);
  await expect.poll(() => counts.innerText(), { timeout: 10_000 }).not.toBe(before);
  await shot(page, 'breadth');
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help} ${v.nodes[0]?.target}`)).toEqual([]);
});
