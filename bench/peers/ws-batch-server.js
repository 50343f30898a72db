// The Node `ws` server a careful engineer writes for a market feed: events are batched per
// 100 ms tick (as livetape batches per tick), each tick's frame is stringified once and turned
// into a Buffer once, and that one Buffer is sent to every client. A client whose socket has
// more than 1 MiB queued skips ticks until it drains (the usual guard against a slow reader).
//   node ws-batch-server.js PORT EVENTS_PER_SECOND [deflate]
// With `deflate`, permessage-deflate is on as ws offers it: each client's socket compresses
// each frame on its own (ws has no way to send one compressed frame to many).
// A frame: {"ts":<µs>,"quotes":[{"ts":..,"symbol":"AAPL","bid":..,"ask":..,"last":..,"volume":..},..]}
const { WebSocketServer } = require('ws');
const { ticks } = require('./feed');

const port = Number(process.argv[2] ?? 3200);
const rate = Number(process.argv[3] ?? 100);
const TICK_MS = 100;
const MAX_QUEUED = 1 << 20;
const deflate = process.argv[4] === 'deflate';
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: deflate ? { threshold: 256, serverNoContextTakeover: true } : false,
});

ticks(rate, TICK_MS, (ts, quotes) => {
  const frame = Buffer.from(JSON.stringify({ ts, quotes }));
  for (const client of wss.clients) {
    if (client.readyState === 1 && client.bufferedAmount < MAX_QUEUED) {
      client.send(frame, { binary: false });
    }
  }
});

// Close politely, but never wait more than a second for clients that do not answer.
const stop = () => {
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
