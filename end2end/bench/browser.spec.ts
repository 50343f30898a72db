import { test, expect, type Page } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';
import { bigMarketBench } from '../bench.config';
import { sentBytes } from '../tests/livetape';

// The browser benchmark (`make bench`): Chromium's own performance APIs on the dashboard.
// It measures and writes target/bench/browser*.json; it asserts only that the page did what is
// measured (live, updating, scrolled, reordered), never a speed: the targets live in the report.

// Seconds to measure each window (BROWSER_BENCH_SECS, default 10).
const secs = Number(process.env.BROWSER_BENCH_SECS ?? 10);
const out = path.join(__dirname, '..', '..', 'target', 'bench');

/** Records long tasks from the first byte on, so that load and hydration's show apart. */
async function observeLongTasks(page: Page) {
  await page.addInitScript(() => {
    const w = window as any;
    w.__long = [] as { start: number; ms: number }[];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.__long.push({ start: e.startTime, ms: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
}

/** The updates counter in the status bar. */
const updatesShown = (page: Page) =>
  page.evaluate(() => Number(document.querySelector('.feed-facts .updates')?.textContent?.replace(/\D/g, '') ?? 0));

/**
 * Measures `secs` seconds of frames, long tasks and DevTools metrics. `scroll`: how the grid is
 * scrolled over the window, a step per frame: not at all, from its top to its bottom (as a
 * user dragging the scrollbar through the whole universe would), or at so many rows a second
 * from where it is (as a user reading down the list would). While it scrolls, how many of the
 * places in view showed their row (not "Loading") in each frame, on average.
 */
async function measure(page: Page, cdp: any, scroll: 'none' | 'all' | number) {
  const metrics = async () =>
    Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m: any) => [m.name, m.value]));
  const m0 = await metrics();
  const u0 = await updatesShown(page);
  const window = await page.evaluate(
    async ({ secs, scroll }) => {
      const w = window as any;
      const grid = document.querySelector('.table-wrap') as HTMLElement;
      // Fractional heights: a rounded one would drift by rows over thousands of them.
      const headPx = document.querySelector('table.quotes thead')!.getBoundingClientRect().height;
      const rowPx = document.querySelector('table.quotes tbody tr[data-row]')!.getBoundingClientRect().height;
      const from = grid.scrollTop;
      const start = performance.now();
      const gaps: number[] = [];
      let frames = 0;
      let last = start;
      let maxRows = 0;
      let inView = 0;
      let shown = 0;
      await new Promise<void>((done) => {
        const tick = (t: number) => {
          frames += 1;
          gaps.push(t - last);
          last = t;
          if (scroll !== 'none') {
            const f = Math.min(1, (t - start) / (secs * 1000));
            grid.scrollTop =
              scroll === 'all'
                ? f * (grid.scrollHeight - grid.clientHeight)
                : from + ((t - start) / 1000) * scroll * rowPx;
            // What the frame painted: the rows in the DOM once its scripts have run (a task
            // after it), against the places its scroll position shows.
            setTimeout(() => {
              const top = Math.floor(grid.scrollTop / rowPx);
              const bottom = Math.ceil((grid.scrollTop + grid.clientHeight - headPx) / rowPx);
              inView += bottom - top;
              for (const r of document.querySelectorAll('table.quotes tbody tr[data-row]')) {
                const p = Number((r as HTMLElement).dataset.row);
                if (p >= top && p < bottom) shown += 1;
              }
            }, 0);
          }
          maxRows = Math.max(maxRows, document.querySelectorAll('table.quotes tbody tr[data-row]').length);
          if (t - start < secs * 1000) requestAnimationFrame(tick);
          else done();
        };
        requestAnimationFrame(tick);
      });
      const end = performance.now();
      const long = (w.__long as { start: number; ms: number }[]).filter((l) => l.start >= start && l.start < end);
      gaps.sort((a, b) => a - b);
      return {
        seconds: (end - start) / 1000,
        fps: frames / ((end - start) / 1000),
        frame_p99_ms: gaps[Math.floor(gaps.length * 0.99)] ?? 0,
        frame_max_ms: gaps[gaps.length - 1] ?? 0,
        long_tasks: long.length,
        long_task_max_ms: Math.max(0, ...long.map((l) => l.ms)),
        max_rows_in_dom: maxRows,
        scrolled_to: grid.scrollTop,
        rows_scrolled: (grid.scrollTop - from) / rowPx,
        shown_in_view: inView > 0 ? shown / inView : null,
      };
    },
    { secs, scroll },
  );
  const m1 = await metrics();
  const per = (k: string) => ((m1[k] - m0[k]) / window.seconds) * 1000;
  return {
    ...window,
    updates_per_sec: ((await updatesShown(page)) - u0) / window.seconds,
    script_ms_per_sec: per('ScriptDuration'),
    task_ms_per_sec: per('TaskDuration'),
    layout_ms_per_sec: per('LayoutDuration'),
    style_ms_per_sec: per('RecalcStyleDuration'),
    dom_nodes: m1['Nodes'],
    js_heap_mib: m1['JSHeapUsedSize'] / 1024 / 1024,
  };
}

/**
 * Long tasks from navigation until `t` (load and hydration); of those, the ones that ended after
 * the page's script started (the `livetape-script` mark): hydration's, not the browser's
 * parse and first layout of the server's HTML; and how long hydration's roots took (the page,
 * then each part hydrated in a task of its own: `src/app.rs`).
 */
async function longTasksBefore(page: Page, t: number) {
  const { before, script, hydrate_ms, hydrate_parts_ms, page_tasks_ms } = await page.evaluate((t) => {
    const before = (window as any).__long.filter((l: any) => l.start < t);
    const mark = performance.getEntriesByName('livetape-script')[0]?.startTime ?? 0;
    const took = (name: string) =>
      performance.getEntriesByName(name).find((e) => e.entryType === 'measure')?.duration ?? null;
    return {
      before,
      script: before.filter((l: any) => l.start + l.ms > mark),
      hydrate_ms: took('livetape-hydrate'),
      hydrate_parts_ms: performance
        .getEntriesByType('measure')
        .filter((e) => e.name.startsWith('livetape-hydrate-'))
        .map((e) => Math.round(e.duration)),
      // Every task of the page's own start, as timed in its code (src/lib.rs): decoding the
      // page's state, building the dashboard, hydrating, each part, the feed's start.
      page_tasks_ms: Object.fromEntries(
        performance
          .getEntriesByType('measure')
          .filter((e) => e.name.startsWith('livetape-') && e.startTime < t)
          .map((e) => [e.name.slice('livetape-'.length), Math.round(e.duration)]),
      ),
    };
  }, t);
  const max = (tasks: any[]) => Math.max(0, ...tasks.map((l: any) => l.ms));
  return {
    long_tasks_before_live: before.length,
    long_task_before_live_max_ms: max(before),
    long_tasks_hydrating: script.length,
    long_task_hydrating_max_ms: max(script),
    hydrate_ms,
    hydrate_parts_ms,
    page_tasks_ms,
  };
}

function write(name: string, result: object) {
  console.log(`browser bench ${name}: ${JSON.stringify(result)}`);
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify(result, null, 2));
}

test('dashboard with 500 symbols at 10 updates/s each: frames, long tasks, script time', async ({ page }) => {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  await observeLongTasks(page);
  await page.goto('/');
  await expect(page.locator('.pill')).toHaveAttribute('data-state', 'live', { timeout: 30_000 });
  await expect(page.locator('.market .count')).toHaveText('500 symbols');
  const hydrated = await page.evaluate(() => performance.now());
  // Let the first batches and snapshot settle, then measure a window.
  await page.waitForTimeout(2_000);
  const live = await measure(page, cdp, 'none');
  const result = { ...live, ...(await longTasksBefore(page, hydrated)) };
  write('browser', result);
  await page.screenshot({ path: path.join(out, 'browser-500.png') });
  // The page really was updating (the rows it shows, 10 times a second each).
  expect(result.updates_per_sec).toBeGreaterThan(100);

  // The same with what a user keeps open all day: ten watched symbols, each with a 0.05% move
  // alert (they fire, are rested, grouped into toasts and said to screen readers), both
  // moving averages over 120 candles, and a followed league.
  await page.evaluate(() => {
    const symbols = [...document.querySelectorAll('table.quotes tbody tr[data-symbol]')]
      .slice(0, 10)
      .map((r) => r.getAttribute('data-symbol'));
    localStorage.setItem('livetape.alerts', 'true');
    localStorage.setItem('livetape.watch', JSON.stringify(symbols));
    localStorage.setItem('livetape.lists', JSON.stringify([{ name: 'Watchlist', symbols }]));
    localStorage.setItem('livetape.alert_rules', JSON.stringify(symbols.map((symbol) => ({ kind: 'move', symbol, pct: 0.05 }))));
    localStorage.setItem('livetape.leagues', JSON.stringify(['basketball']));
  });
  await page.reload();
  await expect(page.locator('.pill')).toHaveAttribute('data-state', 'live', { timeout: 30_000 });
  await page.locator('.ma-fast').check();
  await page.locator('.ma-slow').check();
  await page.getByRole('group', { name: 'Chart range' }).getByRole('button', { name: '2m' }).click();
  await page.waitForTimeout(2_000);
  const kept = await measure(page, cdp, 'none');
  const toasts = await page.locator('.toast').count();
  write('browser-alerts', { ...kept, toasts });
  await page.screenshot({ path: path.join(out, 'browser-alerts.png') });
  expect(kept.updates_per_sec).toBeGreaterThan(100);
  expect(toasts).toBeGreaterThan(0);
});

test('a whole market, 10,000 symbols: page bytes, time to Live, heap, frames while scrolling and while the sort reorders', async ({
  page,
}) => {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  await observeLongTasks(page);
  // What the first page costs on the wire (the browser asks for brotli).
  const html_brotli_bytes = (await sentBytes(bigMarketBench, 'br')).bytes;
  const html_bytes = (await sentBytes(bigMarketBench, 'identity')).bytes;

  await page.goto(bigMarketBench);
  await expect(page.locator('.pill')).toHaveAttribute('data-state', 'live', { timeout: 30_000 });
  const live_ms = await page.evaluate(() => performance.now());
  await expect(page.locator('.market .count')).toHaveText('10,000 symbols');
  await page.waitForTimeout(2_000);

  // Scrolling from the first symbol to the last.
  const scrolling = await measure(page, cdp, 'all');
  expect(scrolling.scrolled_to).toBeGreaterThan(100_000);
  await page.screenshot({ path: path.join(out, 'browser-10k-scrolled.png') });

  // Reading down the list from the top: a row a frame.
  await page.locator('.table-wrap').evaluate((el) => el.scrollTo(0, 0));
  await page.waitForTimeout(1_000);
  const reading = await measure(page, cdp, 60);
  expect(reading.rows_scrolled).toBeGreaterThan(300);

  // Sorted by % change, largest first, back at the top: the order moves with the market.
  await page.locator('.table-wrap').evaluate((el) => el.scrollTo(0, 0));
  // One click sorts a column largest first (as the features test does).
  const header = page.locator('th', { has: page.getByRole('button', { name: /^% Chg/ }) });
  await header.getByRole('button').click();
  await expect(header).toHaveAttribute('aria-sort', 'descending');
  await page.mouse.move(0, 0); // not over the rows: a hovered window holds still
  await page.waitForTimeout(1_000);
  const firstRows = () =>
    page.locator('table.quotes tbody tr[data-symbol]').evaluateAll((rows) =>
      rows.slice(0, 10).map((r) => r.getAttribute('data-symbol')),
    );
  const before = await firstRows();
  const sorted = await measure(page, cdp, 'none');
  const after = await firstRows();
  await page.screenshot({ path: path.join(out, 'browser-10k-sorted.png') });
  expect(after).not.toEqual(before);

  const result = {
    html_bytes,
    html_brotli_bytes,
    live_ms,
    ...(await longTasksBefore(page, live_ms)),
    scrolling,
    reading,
    sorted,
  };
  write('browser-10k', result);
});
