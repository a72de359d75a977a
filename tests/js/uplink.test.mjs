// The uplink (web/static/js/lib/uplink.js) on a server that is draining: `open_session`
// answers `draining`, and the page reconnects its socket (the load balancer sends it to
// another node) instead of showing a failure. Runs in node's test runner:
// `node --test tests/js/uplink.test.mjs`. The server side is tested for real in
// tests/integration/test_draining.py and test_ops.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Uplink } from "../../web/static/js/lib/uplink.js";

/** A socket whose every call is answered with the error ``code``; counts reconnects. */
function refusingSocket(code) {
  return {
    connected: true,
    reconnects: 0,
    asked: [],
    on() {},
    async call(event) {
      this.asked.push(event);
      return { error: { code, message: "this server is about to stop" } };
    },
    reconnect() {
      this.reconnects += 1;
    },
  };
}

/** Wait for ``done()`` to hold, polling; fail after ``ms``. */
async function until(done, ms) {
  const deadline = Date.now() + ms;
  while (!done()) {
    assert.ok(Date.now() < deadline, "not within the time allowed");
    await new Promise((resolve) => {
      setTimeout(resolve, 20);
    });
  }
}

test("a draining server: the page says it is reconnecting and dials again", async () => {
  const socket = refusingSocket("draining");
  const states = [];
  const uplink = new Uplink(socket, null, (state, error) => states.push([state, error]));
  await uplink.start();
  assert.deepEqual(socket.asked, ["open_session"]);
  assert.deepEqual(states, [["reconnecting", null]]); // not "failed": nothing for the person
  await until(() => socket.reconnects === 1, 5000); // after a short wait (half a second)
  uplink.closed = true;
});

test("any other refusal is still a failure the page shows", async () => {
  const socket = refusingSocket("conflict");
  const states = [];
  const uplink = new Uplink(socket, null, (state, error) => states.push([state, error?.code]));
  await uplink.start();
  assert.deepEqual(states, [["failed", "conflict"]]);
  assert.equal(socket.reconnects, 0);
  uplink.closed = true;
  clearTimeout(uplink._recoverTimer);
});
