// The page's server clock (web/static/js/lib/clock.js): a round trip places the server's
// `now` at its midpoint, the shortest of the last few round trips wins, and an answer of
// unknown delay (sync) moves the clock only when it disagrees by more than a round trip
// could explain. Runs in node's test runner: `node --test tests/js/clock.test.mjs`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ServerClock } from "../../web/static/js/lib/clock.js";

let perfNow = 0; // ms: the device's monotonic clock, moved by hand
globalThis.performance = { now: () => perfNow };

test("a round trip places the server's now at its midpoint", () => {
  const clock = new ServerClock();
  perfNow = 1000;
  clock.syncRtt(500, 800, 1000); // asked at 800 ms, answered 500 s at 1000 ms
  assert.equal(clock.rtt, 200);
  assert.equal(clock.now(), 500 + 0.1); // answered halfway: 100 ms ago
  perfNow = 3000;
  assert.equal(clock.now(), 502.1);
});

test("the shortest of the last round trips sets the clock", () => {
  const clock = new ServerClock();
  clock.syncRtt(100, 0, 40); // rtt 40 ms: the server was at 100 s at 20 ms
  clock.syncRtt(100.5, 400, 1400); // rtt 1 s, a slow answer: not used
  perfNow = 2020;
  assert.equal(clock.rtt, 40);
  assert.equal(clock.now(), 102);
  for (let i = 0; i < 5; i += 1) clock.syncRtt(200, 10000 + i, 10100 + i); // 5 newer samples
  assert.equal(clock.rtt, 100); // the 40 ms one has gone out of the window
});

test("an answer of unknown delay does not undo a round trip, unless the clock jumped", () => {
  const clock = new ServerClock();
  perfNow = 0;
  clock.syncRtt(100, 0, 20);
  perfNow = 1010;
  clock.sync(100.9); // 100 ms "late" (its delay): ignored
  assert.equal(clock.now(), 101);
  clock.sync(130); // the server's clock moved: followed
  assert.equal(clock.now(), 130);
  assert.deepEqual(clock.samples, []);
  const plain = new ServerClock();
  plain.sync(50);
  assert.equal(plain.now(), 50);
});

test("measure() syncs from a few round trips and skips a failed one", async () => {
  const clock = new ServerClock();
  perfNow = 0;
  let calls = 0;
  const fetchNow = async () => {
    calls += 1;
    if (calls === 2) throw new Error("offline");
    perfNow += 30;
    return 1000;
  };
  const warn = console.warn;
  console.warn = () => {};
  try {
    await clock.measure(fetchNow, 3);
  } finally {
    console.warn = warn;
  }
  assert.equal(calls, 3);
  assert.equal(clock.samples.length, 2);
  assert.equal(clock.rtt, 30);
});
