import { test, expect } from '@playwright/test';
import { bigMarket } from '../playwright.config';
import { startLivetape } from './livetape';

// Limits say what they mean: a request over a limit gets a typed error that the page shows,
// and nothing the page sends gets its connection closed in a loop.

const port = Number(process.env.E2E_PORT ?? 3000) + 7;

test('a server that refuses what the page asks for: the page says why, and does not reconnect in a loop', async ({
  page,
}) => {
  test.setTimeout(45_000);
  // Four channels per connection: less than the page's watchlist, tape, detail and grid need.
  const server = await startLivetape(port, ['--max-subscriptions', '4']);
  try {
    const opened: string[] = [];
    const closed: string[] = [];
    page.on('websocket', (ws) => {
      opened.push(ws.url());
      ws.on('close', () => closed.push(ws.url()));
    });
    await page.goto(`http://127.0.0.1:${port}/`);
    const notice = page.locator('p.notice');
    await expect(notice).toContainText(/refused a request: .*(subscriptions|channels)/i);
    // Long enough for several rounds of any reconnect loop (the first retry comes within 1 s).
    await page.waitForTimeout(8_000);
    expect(opened.length, `WebSocket opens: ${opened.join(', ')}`).toBe(1);
    expect(closed.length).toBe(0);
    await expect(page.locator('.pill')).not.toHaveAttribute('data-state', 'reconnecting');
    await page.screenshot({ path: 'test-results/limits-refused.png' });
  } finally {
    server.kill('SIGKILL');
  }
});

test('scrolling and sorting a whole market as fast as a user can never gets the page closed', async ({
  page,
}) => {
  test.setTimeout(60_000);
  const closes: string[] = [];
  let opens = 0;
  page.on('websocket', (ws) => {
    opens++;
    ws.on('close', () => closes.push(ws.url()));
  });
  await page.goto(bigMarket);
  await expect(page.locator('.pill')).toHaveAttribute('data-state', 'live');
  const grid = page.locator('.table-wrap');
  await grid.focus();
  // Far more movement than the server's request rate (20 a second, bursts of 40) allows, if
  // the page sent a request for each: the page paces its views instead.
  for (let i = 0; i < 60; i++) {
    await page.mouse.move(10, 10);
    await grid.evaluate((el, step) => el.scrollTo(0, (el.scrollHeight * step) / 60), i);
    if (i % 10 === 0) await page.keyboard.press(i % 20 === 0 ? 'End' : 'Home');
    if (i % 15 === 0) await page.locator('table.quotes thead button.sort').nth(i % 3).click();
    await page.waitForTimeout(25);
  }
  await page.waitForTimeout(2_000);
  expect(opens).toBe(1);
  expect(closes).toEqual([]);
  await expect(page.locator('.pill')).toHaveAttribute('data-state', 'live');
  await expect(page.locator('p.notice')).toBeHidden();
});
