// The simulated quotes every Node peer broadcasts, on the same clock as livetape and the load
// generator (µs since the Unix epoch). Quotes are ~90-byte JSON objects
// ({ts, symbol, bid, ask, last, volume}), prices rounded to the cent.
//
// feed(rate, emit): one event at a time, `rate` a second (the seed articles' servers).
// ticks(rate, tickMs, emitTick): every `tickMs`, that tick's rate*tickMs/1000 events at once,
// all stamped with the tick's time (as livetape's simulator stamps a tick), for the batched peer.

// Symbols: enough distinct ones that a 100 ms tick at 10,000 events/s moves each at most once;
// a universe of `count` for the personalised peer (`symbolsOf`, the same names the load
// generator subscribes to).
const LISTED = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'JPM', 'V', 'XOM'];
const letter = (k) => String.fromCharCode(65 + (k % 26));
const symbolsOf = (count) => Array.from({ length: count }, (_, i) =>
  i < LISTED.length ? LISTED[i]
    : `Q${letter(Math.floor(i / 676))}${letter(Math.floor(i / 26))}${letter(i)}`);
let symbols = symbolsOf(1000);

// performance.timeOrigin can sit a fraction of a millisecond off Date.now(), which is more
// than the latency measured here: anchor to the edge of a Date.now() millisecond once, then
// count with the monotonic clock.
const base = (() => {
  const start = Date.now();
  let ms;
  while ((ms = Date.now()) === start) { /* spin to the next millisecond */ }
  return ms * 1000 - performance.now() * 1000;
})();
const nowUs = () => Math.round(base + performance.now() * 1000);

const cents = (x) => Math.round(x * 100) / 100;
let n = 0;
function quote(ts) {
  n += 1;
  const price = 100 + (n % 500) / 100;
  return {
    ts,
    symbol: symbols[n % symbols.length],
    bid: cents(price - 0.01),
    ask: cents(price + 0.01),
    last: cents(price),
    volume: 1000000 + n,
  };
}

// Calls emit(event) `rate` times a second, on a 10 ms timer, catching up if the loop is late.
function feed(rate, emit) {
  let owed = 0;
  let last = performance.now();
  setInterval(() => {
    const t = performance.now();
    owed += ((t - last) / 1000) * rate;
    last = t;
    while (owed >= 1) {
      owed -= 1;
      emit(quote(nowUs()));
    }
  }, 10);
}

// Calls emitTick(ts, events) every `tickMs` with the events owed for that tick (none: no call);
// with `universe`, the events move that many symbols (round robin) instead of 1,000.
function ticks(rate, tickMs, emitTick, universe) {
  if (universe) symbols = symbolsOf(universe);
  let owed = 0;
  let last = performance.now();
  setInterval(() => {
    const t = performance.now();
    owed += ((t - last) / 1000) * rate;
    last = t;
    const ts = nowUs();
    const events = [];
    while (owed >= 1) {
      owed -= 1;
      events.push(quote(ts));
    }
    if (events.length > 0) emitTick(ts, events);
  }, tickMs);
}

module.exports = { feed, ticks, symbolsOf };
