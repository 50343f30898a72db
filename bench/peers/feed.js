// The simulated events both Node peers broadcast: ~120-byte quotes at a fixed rate, each with a
// `ts` in microseconds on the system clock (the same clock as livetape's and the load
// generator's), each handed to `emit` as an object.
const symbols = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'JPM', 'V', 'XOM'];

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

// Calls emit(event) `rate` times a second, on a 10 ms timer, catching up if the loop is late.
function feed(rate, emit) {
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
      emit({
        ts: nowUs(),
        symbol: symbols[n % symbols.length],
        bid: price - 0.01,
        ask: price + 0.01,
        last: price,
        volume: 1000000 + n,
      });
    }
  }, 10);
}

module.exports = { feed };
