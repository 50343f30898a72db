// Make it mine: alerts that reach the user (also in a hidden tab), followed teams and the
// spoiler switch, choices shared by the browser's tabs, and a hidden tab that costs little and
// is exact on return. Prices and games here come from POST /api/publish on a server of our
// own (no simulator), so every figure the page should show is known.
import { test, expect, type Page, type BrowserContext } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { startLivetape } from './livetape';

const base = Number(process.env.E2E_PORT ?? 3000);
const token = 'e2e-publish-token-0123456789';

function publisher(port: number) {
  return async (events: object[]) => {
    const res = await fetch(`http://127.0.0.1:${port}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  };
}

const quote = (symbol: string, last: number, open = 100) => ({
  type: 'quote', symbol, bid: last - 0.05, ask: last + 0.05, last, open,
});

const team = (code: string, name: string) => ({ code, name });
const game = (status: string, home: number, away: number) => ({
  type: 'game', id: 501, slot: 0, league: 'hockey',
  home: team('BOS', 'Boston Bruins'), away: team('NYR', 'New York Rangers'),
  home_score: home, away_score: away, period: 1, clock_ms: 600_000, status,
});

/** Makes the page believe it is hidden (or shown again), as a tab switch does. */
async function setHidden(page: Page, hidden: boolean) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

/** Records every desktop notification the page shows (the real API, with the permission
 *  granted to the context). */
async function recordNotifications(context: BrowserContext, port: number) {
  await context.grantPermissions(['notifications'], { origin: `http://127.0.0.1:${port}` });
  await context.addInitScript(() => {
    const Real = window.Notification;
    (window as any).__notified = [];
    class Recorded extends Real {
      constructor(title: string, options?: NotificationOptions) {
        super(title, options);
        (window as any).__notified.push({ title, body: options?.body ?? '' });
      }
    }
    Object.defineProperty(Recorded, 'permission', { get: () => Real.permission });
    (window as any).Notification = Recorded;
  });
}

let server: Awaited<ReturnType<typeof startLivetape>> | undefined;
const port = base + 8;
const publish = publisher(port);

test.beforeAll(async () => {
  server = await startLivetape(port, [
    '--source', 'api', '--publish-token', token, '--allow-new-symbols',
  ]);
  await publish([quote('ACME', 100), quote('BETA', 50, 50), quote('GAMMA', 20, 20), game('scheduled', 0, 0)]);
});

test.afterAll(() => {
  server?.kill('SIGTERM');
});

async function open(page: Page) {
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.evaluate(() => localStorage.clear());
  await page.goto(`http://127.0.0.1:${port}/`);
  await expect(page.locator('.pill')).toHaveAttribute('data-state', /live|stale/);
  await expect(page.locator('table.quotes tr[data-symbol="ACME"]')).toHaveCount(1);
}

test('a price alert fires on a published price that crosses its level, also in a hidden tab', async ({ page, context }) => {
  await recordNotifications(context, port);
  await publish([quote('ACME', 100)]);
  await open(page);
  await page.locator('table.quotes tr[data-symbol="ACME"] button.pick').click();
  await expect(page.locator('.detail-sym')).toHaveText('ACME');
  await page.locator('#alert-kind').selectOption('above');
  // A bad level is refused with a reason, and nothing is added.
  await page.locator('.alert-value').fill('abc');
  await page.getByRole('button', { name: 'Add alert' }).click();
  await expect(page.locator('.form-error')).toHaveText('Enter a number');
  await page.locator('.alert-value').fill('105');
  await page.getByRole('button', { name: 'Add alert' }).click();
  await page.locator('#alert-kind').selectOption('below');
  await page.locator('.alert-value').fill('103');
  await page.getByRole('button', { name: 'Add alert' }).click();
  await page.getByRole('button', { name: /^Alerts/ }).click();
  await expect(page.locator('.rules li')).toHaveText([/ACME above 105\.00/, /ACME below 103\.00/]);
  await expect(page.locator('.alerts-on')).toBeChecked();
  await page.locator('.alerts-notify').check();
  await expect(page.locator('.alerts-notify')).toBeChecked();
  expect(await new AxeBuilder({ page }).include('#alerts-panel').include('.alert-form').analyze()
    .then((r) => r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'))).toEqual([]);

  // Below the level: nothing. Across it: a toast with the value, a notification, the announcer.
  await publish([quote('ACME', 104.5)]);
  await expect(page.locator('table.quotes tr[data-symbol="ACME"] td.last')).toContainText('104.50');
  await expect(page.locator('.toast')).toHaveCount(0);
  await publish([quote('ACME', 105.25)]);
  const toast = page.locator('.toast');
  await expect(toast).toHaveCount(1);
  await expect(toast.locator('.toast-title')).toHaveText('ACME above 105.00');
  await expect(toast.locator('.toast-body')).toContainText('105.25');
  await expect.poll(() => page.evaluate(() => (window as any).__notified)).toEqual([
    { title: 'ACME above 105.00', body: expect.stringContaining('105.25') },
  ]);
  await expect(page.locator('#announcer')).toContainText('ACME above 105.00', { timeout: 8_000 });
  await page.screenshot({ path: 'test-results/alert-toast.png' });

  // Hidden (the tab in the background): the alert still fires and reaches the desktop.
  await setHidden(page, true);
  await publish([quote('ACME', 102.5)]);
  await expect.poll(() => page.evaluate(() => (window as any).__notified.length), { timeout: 10_000 }).toBe(2);
  expect((await page.evaluate(() => (window as any).__notified))[1]).toEqual({
    title: 'ACME below 103.00', body: expect.stringContaining('102.50'),
  });
  // The toast waits for the user while hidden.
  await expect(page.locator('.toast-body').last()).toContainText('102.50');
  await setHidden(page, false);
  await page.locator('.toast .dismiss').first().click();
  await expect(page.locator('.toast')).toHaveCount(1);
});

test('a followed team: its game first, its score raises a toast, a spoiler team stays hidden until revealed', async ({ page }) => {
  test.setTimeout(60_000);
  await publish([game('scheduled', 0, 0)]);
  await open(page);
  const card = page.locator('li.game[data-game="501"]');
  await expect(card).toHaveCount(1);
  await card.getByRole('button', { name: 'Follow Boston Bruins' }).click();
  await expect(card.getByRole('button', { name: 'Follow Boston Bruins' })).toHaveAttribute('aria-pressed', 'true');
  await expect(card).toHaveClass(/followed/);
  await page.getByRole('button', { name: /^Alerts/ }).click();
  await page.locator('.alerts-on').check();
  await expect(page.locator('.my-teams li[data-team="hockey:BOS"]')).toHaveCount(1);

  // Start and a score: toasts that say so.
  await publish([game('live', 0, 0)]);
  await expect(page.locator('.toast-title').first()).toHaveText('Started: New York Rangers at Boston Bruins');
  await publish([game('live', 1, 0)]);
  await expect(page.locator('.toast-body').last()).toHaveText('Boston Bruins scored · NYR 0, BOS 1');
  await expect(card.locator('.home-score')).toHaveText('1');

  // The spoiler switch: the score is hidden on the card and in the alerts, until revealed.
  await page.locator('.my-teams li[data-team="hockey:BOS"] .spoiler').check();
  await expect(card.locator('.home-score')).toHaveText('–');
  await publish([game('live', 2, 0)]);
  await expect(page.locator('.toast-body').last()).toHaveText('score hidden');
  await expect(card.locator('.home-score')).toHaveText('–');
  await expect(page.locator('.toasts')).not.toContainText('BOS 2');
  await page.screenshot({ path: 'test-results/spoiler.png' });
  await card.getByRole('button', { name: 'Score hidden · Reveal' }).click();
  await expect(card.locator('.home-score')).toHaveText('2');

  // The league filter shows one league; the choice is kept across a reload.
  await page.locator('select.league-filter').selectOption('Basketball');
  await expect(card).toHaveCount(0);
  await page.reload();
  await expect(page.locator('select.league-filter')).toHaveValue('Basketball');
  await page.locator('select.league-filter').selectOption('');
  await expect(card.getByRole('button', { name: 'Follow Boston Bruins' })).toHaveAttribute('aria-pressed', 'true');
  await expect(card.locator('.home-score')).toHaveText('–');
  expect(await new AxeBuilder({ page }).include('.scores').analyze()
    .then((r) => r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'))).toEqual([]);
});

test('a star and an alert set in one tab appear in another tab of the same browser', async ({ context }) => {
  const one = await context.newPage();
  await open(one);
  const two = await context.newPage();
  await two.goto(`http://127.0.0.1:${port}/`);
  await expect(two.locator('.pill')).toHaveAttribute('data-state', /live|stale/);
  await one.locator('table.quotes tr[data-symbol="GAMMA"] button.star').click();
  await expect(two.locator('table.quotes tr[data-symbol="GAMMA"] button.star')).toHaveAttribute('aria-pressed', 'true');
  await one.locator('table.quotes tr[data-symbol="BETA"] button.pick').click();
  await one.locator('.alert-value').fill('60');
  await one.getByRole('button', { name: 'Add alert' }).click();
  await two.getByRole('button', { name: /^Alerts/ }).click();
  await expect(two.locator('.rules li')).toHaveText([/BETA above 60\.00/]);
  await expect(two.locator('.alerts-on')).toBeChecked();
});

test('a hidden tab keeps only its alerts streaming, and its grid is exact on return', async ({ page }) => {
  test.setTimeout(60_000);
  await publish([quote('ACME', 100), quote('BETA', 50, 50), quote('GAMMA', 20, 20)]);
  await open(page);
  // An alert on BETA; ACME and GAMMA are only in the grid.
  await page.locator('table.quotes tr[data-symbol="BETA"] button.pick').click();
  await page.locator('table.quotes tr[data-symbol="ACME"] button.pick').click();
  await page.locator('table.quotes tr[data-symbol="BETA"] button.pick').click();
  await page.locator('.alert-value').fill('55');
  await page.getByRole('button', { name: 'Add alert' }).click();
  await page.locator('table.quotes tr[data-symbol="GAMMA"] button.pick').click();
  // Every frame the page sends and gets, from the browser's own network log.
  const sent: string[] = [];
  const frames: string[] = [];
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.webSocketFrameSent', (e: any) => sent.push(e.response.payloadData));
  cdp.on('Network.webSocketFrameReceived', (e: any) => frames.push(e.response.payloadData));

  await setHidden(page, true);
  // After the grace period the page closes its view and lets go of all but BETA.
  await expect.poll(() => sent.some((f) => f.includes('"close_view"')), { timeout: 10_000 }).toBe(true);
  const unsub = sent.filter((f) => f.includes('"unsubscribe"')).join('');
  expect(unsub).toContain('breadth');
  expect(unsub).toContain('trades:GAMMA');
  expect(unsub).not.toContain('quotes:BETA');
  // While hidden: many moves on the grid's symbols reach nothing; the alert's symbol still fires.
  frames.length = 0;
  for (let i = 1; i <= 40; i++) {
    await publish([quote('ACME', 100 + i / 10), quote('GAMMA', 20 + i / 100)]);
  }
  await publish([quote('BETA', 56)]);
  await expect(page.locator('.toast-title')).toHaveText(['BETA above 55.00']);
  const got = frames.join('');
  expect(got).not.toContain('"quotes:ACME"');
  expect(got).not.toContain('"quotes:GAMMA"');
  // Back: each moved row comes back as its state now, one snapshot, not 40 updates.
  frames.length = 0;
  await setHidden(page, false);
  await expect(page.locator('table.quotes tr[data-symbol="ACME"] td.last')).toContainText('104.00');
  await expect(page.locator('table.quotes tr[data-symbol="GAMMA"] td.last')).toContainText('20.40');
  await expect(page.locator('.detail-sym')).toHaveText('GAMMA');
  await expect(page.locator('.gaps')).toHaveText('0');
  const back = frames.join('\n');
  expect(back).toContain('"lagged"');
  expect((back.match(/"quotes:ACME"/g) ?? []).length).toBeLessThanOrEqual(2);
  // Live again afterwards.
  await publish([quote('ACME', 99)]);
  await expect(page.locator('table.quotes tr[data-symbol="ACME"] td.last')).toContainText('99.00');
  await expect(page.locator('.gaps')).toHaveText('0');
});

test('over the event stream too: hidden, the stream carries only the alerts; back, the latest state', async ({ page }) => {
  test.setTimeout(60_000);
  await publish([quote('ACME', 100), quote('BETA', 50, 50)]);
  const streams: string[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/sse') streams.push(r.url());
  });
  await page.goto(`http://127.0.0.1:${port}/?transport=sse`);
  await page.evaluate(() => localStorage.clear());
  await page.goto(`http://127.0.0.1:${port}/?transport=sse`);
  await expect(page.locator('.pill')).toHaveText(/Live · SSE/);
  await page.locator('table.quotes tr[data-symbol="BETA"] button.pick').click();
  await page.locator('.alert-value').fill('55');
  await page.getByRole('button', { name: 'Add alert' }).click();
  await expect.poll(() => decodeURIComponent(streams.at(-1) ?? '')).toContain('quotes:BETA');
  await setHidden(page, true);
  // Reopened with the alert's symbol only: no view, no breadth, no detail panel.
  const params = () => new URL(streams.at(-1)!).searchParams;
  await expect.poll(() => params().get('channels'), { timeout: 10_000 }).toBe('quotes:BETA');
  expect(params().get('limit')).toBeNull();
  for (let i = 1; i <= 20; i++) await publish([quote('ACME', 100 + i / 10)]);
  await publish([quote('BETA', 56)]);
  await expect(page.locator('.toast-title')).toHaveText(['BETA above 55.00']);
  await setHidden(page, false);
  await expect.poll(() => params().get('latest')).toBe('1');
  expect(params().get('limit')).not.toBeNull();
  await expect(page.locator('table.quotes tr[data-symbol="ACME"] td.last')).toContainText('102.00');
  await expect(page.locator('.gaps')).toHaveText('0');
  await publish([quote('ACME', 98)]);
  await expect(page.locator('table.quotes tr[data-symbol="ACME"] td.last')).toContainText('98.00');
});

test('named watchlists: create, switch, this list only, export and import as CSV, rename, reorder, delete; other tabs follow', async ({ context, browser }) => {
  await publish([quote('ACME', 100), quote('BETA', 50, 50), quote('GAMMA', 20, 20), quote('DELTA', 12, 10)]);
  const page = await context.newPage();
  await open(page);
  const star = (s: string) => page.locator(`table.quotes tr[data-symbol="${s}"] button.star`);
  await star('ACME').click();
  await page.getByRole('button', { name: 'Manage lists' }).click();
  await page.getByRole('textbox', { name: "New list's name" }).fill('Tech');
  await page.getByRole('button', { name: 'Create' }).click();
  await expect(page.locator('select.list-pick')).toHaveValue('Tech');
  await expect(star('ACME')).toHaveAttribute('aria-pressed', 'false');
  await star('DELTA').click();
  await star('BETA').click();
  // This list only: the grid is the list, ranked by the grid's column.
  await page.getByRole('button', { name: 'This list only' }).click();
  const rows = page.locator('table.quotes tbody tr[data-symbol]');
  await expect(rows).toHaveCount(2);
  await expect(page.locator('.market .count')).toHaveText('2 in Tech');
  await page.getByRole('button', { name: /% Chg/ }).click();
  await expect(rows.first()).toHaveAttribute('data-symbol', 'DELTA');
  await page.getByRole('button', { name: /% Chg/ }).click();
  await expect(rows.first()).toHaveAttribute('data-symbol', 'BETA');
  // The list's quotes are live in this view.
  await publish([quote('DELTA', 13, 10)]);
  await expect(page.locator('table.quotes tr[data-symbol="DELTA"] td.last')).toContainText('13.00');
  await page.screenshot({ path: 'test-results/lists.png' });
  // The address names the list with its symbols: another browser, which has no such list,
  // opens the same view, rendered by the server from the first byte.
  await expect.poll(() => page.url()).toContain('list=Tech&watch=DELTA,BETA');
  const link = page.url();
  const html = await (await fetch(link)).text();
  expect(html).toContain('data-symbol="BETA"');
  expect(html).not.toContain('data-symbol="GAMMA"');
  expect(html.indexOf('data-symbol="BETA"')).toBeLessThan(html.indexOf('data-symbol="DELTA"'));
  const elsewhere = await browser.newContext();
  const shared = await elsewhere.newPage();
  await shared.goto(link);
  await expect(shared.locator('table.quotes tbody tr[data-symbol]')).toHaveCount(2);
  await expect(shared.locator('table.quotes tbody tr[data-symbol]').first()).toHaveAttribute('data-symbol', 'BETA');
  await expect(shared.locator('.pill')).toHaveAttribute('data-state', /live|stale/);
  await expect(shared.locator('.market .count')).toHaveText('2 in Tech');
  await expect(shared.locator('select.list-pick')).toHaveValue('Tech');
  await expect(shared.locator('table.quotes tbody tr[data-symbol]')).toHaveCount(2);
  await elsewhere.close();
  // Switch back: the first list's stars; the whole market again.
  await page.locator('select.list-pick').selectOption('Watchlist');
  await expect(rows).toHaveCount(1);
  await page.getByRole('button', { name: 'This list only' }).click();
  await expect(rows).toHaveCount(4);
  await expect(star('ACME')).toHaveAttribute('aria-pressed', 'true');
  // Export: the CSV the link downloads.
  const tech = page.locator('.list-manage li[data-list="Tech"]');
  const href = await tech.locator('a.export').getAttribute('href');
  expect(decodeURIComponent(href!.replace('data:text/csv;charset=utf-8,', ''))).toBe('symbol\nDELTA\nBETA\n');
  await expect(tech.locator('a.export')).toHaveAttribute('download', 'Tech.csv');
  // Import: a bad file is refused with its line and nothing is added; a good one is a new list.
  await page.locator('.list-manage input[type=file]').setInputFiles({ name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from('symbol\nGAMMA\nnot a symbol\n') });
  await expect(page.locator('.list-manage .form-error')).toHaveText('bad.csv: line 3: "not a symbol" is not a symbol');
  await expect(page.locator('.list-manage li')).toHaveCount(2);
  await page.locator('.list-manage input[type=file]').setInputFiles({ name: 'Energy.csv', mimeType: 'text/csv', buffer: Buffer.from('Ticker,Name\nGAMMA,Gamma Corp\nACME,Acme\n') });
  await expect(page.locator('select.list-pick')).toHaveValue('Energy');
  await expect(star('GAMMA')).toHaveAttribute('aria-pressed', 'true');
  await expect(star('ACME')).toHaveAttribute('aria-pressed', 'true');
  await expect(star('BETA')).toHaveAttribute('aria-pressed', 'false');
  // Rename, reorder, delete.
  await page.getByRole('textbox', { name: 'Name of Energy' }).fill('Power');
  await page.getByRole('textbox', { name: 'Name of Energy' }).press('Enter');
  await expect(page.locator('select.list-pick')).toHaveValue('Power');
  await page.getByRole('button', { name: 'Move Power up' }).click();
  await expect(page.locator('.list-manage li').nth(1)).toHaveAttribute('data-list', 'Power');
  // Another tab of the same browser has the same lists.
  const other = await context.newPage();
  await other.goto(`http://127.0.0.1:${port}/`);
  await expect(other.locator('select.list-pick option')).toHaveText(['Watchlist', 'Power', 'Tech']);
  await page.getByRole('button', { name: 'Delete Tech' }).click();
  await expect(page.locator('.list-manage li')).toHaveCount(2);
  await expect(other.locator('select.list-pick option')).toHaveText(['Watchlist', 'Power']);
  expect(await new AxeBuilder({ page }).include('.market').analyze()
    .then((r) => r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'))).toEqual([]);
});

test.describe('in the reader’s locale and time zone', () => {
  test.use({ locale: 'de-DE', timezoneId: 'Asia/Kolkata' });

  test('numbers in the browser’s locale, times in its zone or UTC, a game’s start in local time', async ({ page }) => {
    // 14:00 UTC is 19:30 in Kolkata (UTC+05:30, no daylight saving).
    const start = new Date(Date.UTC(2030, 0, 1, 14, 0, 0)).toISOString();
    await publish([quote('ACME', 1234.5), { ...game('scheduled', 0, 0), id: 502, slot: 1, starts: start }]);
    await open(page);
    await expect(page.locator('table.quotes tr[data-symbol="ACME"] td.last')).toContainText('1.234,50');
    await expect(page.locator('.updated')).toHaveText(/^\d\d:\d\d:\d\d UTC\+05:30$/);
    await expect(page.locator('li.game[data-game="502"] .clock')).toHaveText('Starts 19:30');
    // The price alert form reads the reader's decimal comma.
    await page.locator('table.quotes tr[data-symbol="ACME"] button.pick').click();
    await page.locator('.alert-value').fill('1.240,5');
    await page.getByRole('button', { name: 'Add alert' }).click();
    await page.getByRole('button', { name: /^Alerts/ }).click();
    await expect(page.locator('.rules li')).toHaveText([/ACME above 1\.240,50/]);
    await page.screenshot({ path: 'test-results/locale.png' });
    // UTC on request, kept across a reload.
    await page.getByRole('button', { name: 'Times in UTC' }).click();
    await expect(page.locator('.updated')).toHaveText(/^\d\d:\d\d:\d\d UTC$/);
    await expect(page.locator('li.game[data-game="502"] .clock')).toHaveText('Starts 14:00');
    await page.reload();
    await expect(page.getByRole('button', { name: 'Times in UTC' })).toHaveAttribute('aria-pressed', 'true');
    await expect(page.locator('li.game[data-game="502"] .clock')).toHaveText('Starts 14:00');
  });
});
