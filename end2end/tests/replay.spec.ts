import { test, expect } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { root, startLivetape as start } from './livetape';

// Your own data: the dashboard on a replayed recording (the committed sample, played at max
// speed: the same file gives the same screen), and on a feed that publishers fill through
// POST /api/publish, new symbols included.
const base = Number(process.env.E2E_PORT ?? 3000);
const sample = 'data/sample-session.ndjson.gz';
const token = 'e2e-publish-token-0123456789';

/** The grid's text for a price: two decimals, thousands grouped. */
const money = (x: number) =>
  (Math.round(x * 100) / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** A price cell's text: an up or down arrow (hidden from screen readers) may come first. */
const priceText = (text: string) => new RegExp(`^\\s*[▲▼]?\\s*${text.replace(/[.]/g, '\\.')}$`);

/** Each symbol's last price at the end of the recording. */
function finalPrices(): Map<string, number> {
  const text = gunzipSync(readFileSync(path.join(root, sample))).toString('utf8');
  const last = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    for (const e of JSON.parse(line).events) {
      if (e.type === 'quote') last.set(e.symbol, e.last);
    }
  }
  return last;
}

test('a replayed recording shows its recorded prices, the same every time', async ({ page }) => {
  const port = base + 5;
  const server = await start(port, ['--source', 'replay', '--replay', sample, '--speed', 'max']);
  try {
    const expected = finalPrices();
    expect(expected.size).toBe(12);
    // The replay at max speed is over in well under a second.
    await expect
      .poll(async () => (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()).tick, { timeout: 10_000 })
      .toBeGreaterThan(1800);
    await page.goto(`http://127.0.0.1:${port}/`);
    await expect(page.locator('.pill')).toHaveAttribute('data-state', /live|stale/);
    for (const [symbol, price] of expected) {
      await expect(page.locator(`table.quotes tr[data-symbol="${symbol}"] td.last`)).toHaveText(priceText(money(price)));
    }
    await page.screenshot({ path: 'test-results/replay.png' });
  } finally {
    server.kill('SIGTERM');
  }
});

test('a publisher lists a new symbol and moves its price on an open dashboard', async ({ page }) => {
  const port = base + 6;
  const server = await start(port, [
    '--source', 'sim,api', '--symbols', '6', '--warmup-secs', '5',
    '--publish-token', token, '--allow-new-symbols',
  ]);
  const publish = (events: object[]) =>
    fetch(`http://127.0.0.1:${port}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
  try {
    await page.goto(`http://127.0.0.1:${port}/`);
    await expect(page.locator('.pill')).toHaveAttribute('data-state', 'live');
    const rows = page.locator('table.quotes tbody tr[data-symbol]');
    await expect(rows).toHaveCount(6);
    const listed = await publish([{ type: 'quote', symbol: 'ACME', bid: 41.9, ask: 42.1, last: 42.0, open: 40.0 }]);
    expect(listed.status).toBe(200);
    expect((await listed.json()).listed).toEqual(['ACME']);
    const acme = page.locator('table.quotes tr[data-symbol="ACME"]');
    await expect(acme).toHaveCount(1, { timeout: 5_000 });
    await expect(acme.locator('td.last')).toHaveText(priceText('42.00'));
    const moved = await publish([{ type: 'quote', symbol: 'ACME', bid: 43.4, ask: 43.6, last: 43.5 }]);
    expect(moved.status).toBe(200);
    await expect(acme.locator('td.last')).toHaveText(priceText('43.50'));
    const refused = await publish([{ type: 'quote', symbol: 'ACME', bid: 44, ask: 43, last: 43.5 }]);
    expect(refused.status).toBe(422);
    await page.waitForTimeout(500);
    await expect(acme.locator('td.last')).toHaveText(priceText('43.50'));
    await expect(page.locator('.gaps')).toHaveText('0');
    await page.screenshot({ path: 'test-results/published.png' });
  } finally {
    server.kill('SIGTERM');
  }
});
