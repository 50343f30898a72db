// The Node `ws` broadcast server of the seed articles: every event is serialised once and sent
// to every client as its own message.
//   node ws-server.js PORT EVENTS_PER_SECOND
const { WebSocketServer } = require('ws');
const { feed } = require('./feed');

const port = Number(process.argv[2] ?? 3200);
const rate = Number(process.argv[3] ?? 100);
const wss = new WebSocketServer({ host: '127.0.0.1', port });

feed(rate, (event) => {
  const msg = JSON.stringify(event);
  for (const client of wss.clients) {
    if (client.readyState === 1) client.send(msg);
  }
});

// Close politely, but never wait more than a second for clients that do not answer.
const stop = () => {
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
