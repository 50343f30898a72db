// node bench/publish-latency.js PORT TOKEN [N]  (against `livetape --source sim,api --publish-token TOKEN`)
// Publish-to-client latency through POST /api/publish: a quote with a unique price is posted at
// a random moment; the time until a WebSocket client subscribed to it receives it is recorded.
const WebSocket = require('./peers/node_modules/ws');
const port = process.argv[2], token = process.argv[3], n = Number(process.argv[4] ?? 50);
const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
const waiting = new Map();
const lat = [];
ws.on('message', (m) => {
  const msg = JSON.parse(m.toString());
  if (msg.type !== 'batch') return;
  for (const u of msg.updates) if (u.q && waiting.has(u.q.l)) { lat.push(performance.now() - waiting.get(u.q.l)); waiting.delete(u.q.l); }
});
ws.on('open', async () => {
  ws.send(JSON.stringify({ type: 'subscribe', id: 1, channels: ['quotes:AAPL'] }));
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < n; i++) {
    await new Promise((r) => setTimeout(r, Math.random() * 200));
    const last = 500 + i / 100;
    waiting.set(last, performance.now());
    const res = await fetch(`http://127.0.0.1:${port}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ events: [{ type: 'quote', symbol: 'AAPL', bid: last - 0.01, ask: last + 0.01, last }] }) });
    if (res.status !== 200) throw new Error(await res.text());
  }
  await new Promise((r) => setTimeout(r, 500));
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1);
  console.log(`${lat.length}/${n} received; publish-to-client ms: p50 ${q(0.5)}, p90 ${q(0.9)}, p99 ${q(0.99)}, max ${lat[lat.length - 1].toFixed(1)}`);
  process.exit(0);
});
