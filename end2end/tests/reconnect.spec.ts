import { test, expect, type Page } from '@playwright/test';
import { type ChildProcess } from 'node:child_process';
import { startLivetape } from './livetape';

// This test runs its own server so that it can kill and restart it.
const port = Number(process.env.E2E_PORT ?? 3000) + 1;

function startServer(): Promise<ChildProcess> {
  return startLivetape(port);
}

const updates = async (page: Page) =>
  Number((await page.locator('.updates').innerText()).replace(/,/g, ''));

/** Opens the dashboard of our own server and waits until it is live. */
async function openLive(page: Page) {
  await page.goto(`http://127.0.0.1:${port}/`);
  const pill = page.locator('.pill');
  await expect(pill).toHaveAttribute('data-state', 'live');
  return pill;
}

test('a killed and restarted server: Reconnecting, then Live again, no gap', async ({ page }) => {
  test.setTimeout(60_000);
  let server = await startServer();
  try {
    const pill = await openLive(page);
    await expect.poll(() => updates(page)).toBeGreaterThan(20);
    const rows = page.locator('table.quotes tbody tr[data-symbol]');
    const shown = await rows.count();
    expect(shown).toBeGreaterThan(10);

    // Kill it mid-stream, as a crash would.
    server.kill('SIGKILL');
    await expect(pill).toHaveAttribute('data-state', 'reconnecting', { timeout: 10_000 });
    await expect(pill).toHaveText(/Reconnecting in \d+s/);
    const before = await updates(page);
    await page.screenshot({ path: 'test-results/reconnecting.png' });

    server = await startServer();
    await expect(pill).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
    // The stream continues: more updates, and the client never saw a hole in any channel.
    await expect.poll(() => updates(page)).toBeGreaterThan(before + 20);
    await expect(page.locator('.gaps')).toHaveText('0');
    // The table was never blanked: the same rows, every one with its numbers.
    expect(await rows.count()).toBe(shown);
    await expect(rows.locator('td.bid', { hasText: '…' })).toHaveCount(0);
  } finally {
    server.kill('SIGKILL');
  }
});

test('a graceful restart (SIGTERM) is just as seamless', async ({ page }) => {
  test.setTimeout(60_000);
  let server = await startServer();
  try {
    const pill = await openLive(page);
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await exited;
    await expect(pill).toHaveAttribute('data-state', 'reconnecting', { timeout: 10_000 });
    server = await startServer();
    await expect(pill).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
    await expect(page.locator('.gaps')).toHaveText('0');
  } finally {
    server.kill('SIGKILL');
  }
});

test('a frozen server (socket open, nothing sent) is detected within seconds', async ({ page }) => {
  test.setTimeout(60_000);
  const server = await startServer();
  try {
    const pill = await openLive(page);
    // SIGSTOP: the process stops, TCP stays open, no close ever arrives.
    const frozenAt = Date.now();
    server.kill('SIGSTOP');
    await expect(pill).toHaveAttribute('data-state', 'reconnecting', { timeout: 10_000 });
    const detectedMs = Date.now() - frozenAt;
    console.log(`frozen server detected after ${detectedMs} ms`);
    // Three heartbeat intervals (1 s each) plus the timer's granularity.
    expect(detectedMs).toBeLessThan(6_000);
    server.kill('SIGCONT');
    await expect(pill).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
    await expect(page.locator('.gaps')).toHaveText('0');
  } finally {
    server.kill('SIGCONT');
    server.kill('SIGKILL');
  }
});
