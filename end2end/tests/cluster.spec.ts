import { test, expect, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// The dashboard through HAProxy in front of three edges, one producer and Redis (real
// processes on free loopback ports); the edge holding the page's feed is killed.
const root = path.resolve(__dirname, '..', '..');
const bin = path.resolve(root, process.env.LIVETAPE_BIN ?? 'target/release/livetape');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function listening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on ${port}`);
}

async function readyz(port: number): Promise<any> {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/readyz`)).json();
  } catch {
    return { ready: false };
  }
}

async function untilReady(port: number) {
  await expect.poll(async () => (await readyz(port)).ready, { timeout: 30_000 }).toBe(true);
}

const updates = async (page: Page) =>
  Number((await page.locator('.updates').innerText()).replace(/,/g, ''));

test('through the balancer: the edge holding the feed dies, the page goes Reconnecting then Live with no gap', async ({ page }) => {
  test.setTimeout(120_000);
  const procs: ChildProcess[] = [];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'livetape-e2e-redis-'));
  const run = (cmd: string, args: string[], env: Record<string, string> = {}) => {
    const child = spawn(cmd, args, {
      cwd: root,
      stdio: 'ignore',
      env: { ...process.env, LEPTOS_SITE_ROOT: 'target/site', ...env },
    });
    procs.push(child);
    return child;
  };
  try {
    const redisPort = await freePort();
    run('redis-server', ['--bind', '127.0.0.1', '--port', `${redisPort}`, '--save', '', '--appendonly', 'no', '--dir', dir]);
    await listening(redisPort);
    const redis = `redis://127.0.0.1:${redisPort}`;
    const producerPort = await freePort();
    run(bin, ['--addr', `127.0.0.1:${producerPort}`, '--redis', redis, '--role', 'producer', '--warmup-secs', '30']);
    await untilReady(producerPort);
    const edges: { port: number; child: ChildProcess }[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      edges.push({ port, child: run(bin, ['--addr', `127.0.0.1:${port}`, '--redis', redis, '--role', 'edge']) });
    }
    for (const e of edges) await untilReady(e.port);
    const lbPort = await freePort();
    run('haproxy', ['-db', '-f', path.join(root, 'deploy/haproxy.cfg')], {
      LIVETAPE_BIND: `127.0.0.1:${lbPort}`,
      EDGE1: `127.0.0.1:${edges[0].port}`,
      EDGE2: `127.0.0.1:${edges[1].port}`,
      EDGE3: `127.0.0.1:${edges[2].port}`,
    });
    await listening(lbPort);

    await page.goto(`http://127.0.0.1:${lbPort}/`);
    const pill = page.locator('.pill');
    await expect(pill).toHaveAttribute('data-state', 'live', { timeout: 15_000 });
    await expect.poll(() => updates(page)).toBeGreaterThan(20);

    // The edge with the page's WebSocket (each edge counts its connections in /readyz).
    let holder = -1;
    await expect
      .poll(async () => {
        for (let i = 0; i < edges.length; i++) {
          if ((await readyz(edges[i].port)).connections === 1) holder = i;
        }
        return holder;
      })
      .toBeGreaterThanOrEqual(0);
    const price = await page.locator('table.quotes tbody tr[data-symbol] td.last').first().innerText();
    edges[holder].child.kill('SIGKILL');
    await expect(pill).toHaveAttribute('data-state', 'reconnecting', { timeout: 10_000 });
    const before = await updates(page);
    await page.screenshot({ path: 'test-results/cluster-reconnecting.png' });
    await expect(pill).toHaveAttribute('data-state', 'live', { timeout: 20_000 });
    // Served by another edge now, in the same market: more updates, none lost, prices move.
    await expect.poll(() => updates(page), { timeout: 15_000 }).toBeGreaterThan(before + 20);
    await expect(page.locator('.gaps')).toHaveText('0');
    const others = edges.filter((_, i) => i !== holder);
    const counts = await Promise.all(others.map(async (e) => (await readyz(e.port)).connections));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
    await expect
      .poll(async () => page.locator('table.quotes tbody tr[data-symbol] td.last').first().innerText(), { timeout: 20_000 })
      .not.toBe(price);
    await page.screenshot({ path: 'test-results/cluster-live-again.png' });
  } finally {
    for (const p of procs.reverse()) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
