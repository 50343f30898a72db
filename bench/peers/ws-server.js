// The Node `ws` broadcast server of the seed articles: every event is serialised once and sent
// to every client as its own message.
//   node ws-server.js PORT EVENTS_PER_SECOND
// Events are ~120-byte quotes with a `ts` in microseconds (the same clock as livetape's).
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] ?? 3200);
const rate = Number(process.argv[3] ?? 100);
const wss = new WebSocketServer({ host: '127.0.0.1', port });
const symbols = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'JPM', 'V', 'XOM'];
// Microseconds on the system clock. performance.timeOrigin can sit a fraction of a millisecond
// off Date.now(), which is more than the latency measured here: anchor to the edge of a
// Date.now() millisecond once, then count with the monotonic clock.
const base = (() => {
  const start = Date.now();
  let ms;
  while ((ms = Date.now()) === start) { /* spin to the next millisecond */ }
  return ms * 1000 - performance.now() * 1000;
})();
const nowUs = () => Math.round(base + performance.now() * 1000);

let owed = 0;
let last = performance.now();
let n = 0;
setInterval(() => {
  const t = performance.now();
  owed += ((t - last) / 1000) * rate;
  last = t;
  while (owed >= 1) {
    owed -= 1;
    n += 1;
    const price = 100 + (n % 500) / 100;
    const msg = JSON.stringify({
      ts: nowUs(),
      symbol: symbols[n % symbols.length],
      bid: price - 0.01,
      ask: price + 0.01,
      last: price,
      volume: 1000000 + n,
    });
    for (const client of wss.clients) {
      if (client.readyState === 1) client.send(msg);
    }
  }
}, 10);

const stop = () => wss.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
