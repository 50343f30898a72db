// The Socket.IO server of the seed articles: `io.emit` broadcasts every event to every
// connected socket (Socket.IO encodes the packet once per broadcast).
//   node socketio-server.js PORT EVENTS_PER_SECOND
// Clients connect with the WebSocket transport only: ws://HOST:PORT/socket.io/?EIO=4&transport=websocket
const { createServer } = require('http');
const { Server } = require('socket.io');
const { feed } = require('./feed');

const port = Number(process.argv[2] ?? 3300);
const rate = Number(process.argv[3] ?? 100);
const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false });

feed(rate, (event) => io.emit('quote', event));

http.listen(port, '127.0.0.1');
// Close politely, but never wait more than a second for clients that do not answer.
const stop = () => {
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
