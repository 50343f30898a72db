// The Node `ws` server a strong engineer writes when every viewer has a watchlist of their own:
// per 100 ms tick, each changed quote is stringified once; each client's frame is the
// concatenation of its symbols' strings (one Buffer per client), sent with one send per
// client per tick. A client whose socket has more than 1 MiB queued skips ticks until it
// drains (the usual guard against a slow reader).
//   node ws-personal-server.js PORT EVENTS_PER_SECOND UNIVERSE [deflate]
// A client subscribes by sending {"subscribe":["SYM",..]} (again to change its list: the new
// list replaces the old). Symbols are the feed's: feed.symbolsOf(UNIVERSE).
// A frame: {"ts":<µs>,"quotes":[{"ts":..,"symbol":"AAPL","bid":..,"ask":..,"last":..,"volume":..},..]}
const { WebSocketServer } = require('ws');
const { ticks } = require('./feed');

const port = Number(process.argv[2] ?? 3200);
const rate = Number(process.argv[3] ?? 5000);
const universe = Number(process.argv[4] ?? 10000);
const deflate = process.argv[5] === 'deflate';
const TICK_MS = 100;
const MAX_QUEUED = 1 << 20;
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: deflate ? { threshold: 256, serverNoContextTakeover: true } : false,
});

// Each client's symbols, as an array (iterated every tick) of strings.
const watch = new Map();
wss.on('connection', (ws) => {
  watch.set(ws, []);
  ws.on('message', (data) => {
    try {
      const msg = JSON.parse(data);
      if (Array.isArray(msg.subscribe)) watch.set(ws, msg.subscribe.map(String));
    } catch (_) { /* not ours: ignore */ }
  });
  ws.on('close', () => watch.delete(ws));
});

const head = (ts) => `{"ts":${ts},"quotes":[`;
ticks(rate, TICK_MS, (ts, quotes) => {
  // Each changed quote's JSON, once.
  const json = new Map();
  for (const q of quotes) json.set(q.symbol, JSON.stringify(q));
  for (const [ws, symbols] of watch) {
    if (ws.readyState !== 1 || ws.bufferedAmount >= MAX_QUEUED) continue;
    let body = '';
    for (const s of symbols) {
      const j = json.get(s);
      if (j !== undefined) body = body === '' ? j : `${body},${j}`;
    }
    if (body !== '') ws.send(Buffer.from(`${head(ts)}${body}]}`), { binary: false });
  }
}, universe);

// Close politely, but never wait more than a second for clients that do not answer.
const stop = () => {
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
