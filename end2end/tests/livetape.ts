// Starting a livetape server of our own for a test (the binary under test, on loopback).
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import path from 'node:path';

export const root = path.resolve(__dirname, '..', '..');
export const bin = path.resolve(root, process.env.LIVETAPE_BIN ?? 'target/release/livetape');

/** `livetape --addr 127.0.0.1:PORT ARGS...`, resolved once it answers /healthz. */
export async function startLivetape(port: number, args: string[] = []): Promise<ChildProcess> {
  const child = spawn(bin, ['--addr', `127.0.0.1:${port}`, ...args], {
    cwd: root,
    stdio: 'ignore',
    env: { ...process.env, LEPTOS_SITE_ROOT: 'target/site' },
  });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('server did not start');
}

/** The bytes the server sends for `url` when the client accepts `encoding`, and the encoding it chose. */
export function sentBytes(url: string, encoding: string): Promise<{ bytes: number; encoding: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { 'accept-encoding': encoding } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ bytes, encoding: String(res.headers['content-encoding'] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}
