// The uplink (web/static/js/lib/uplink.js) on a server that is draining: `open_session`
// answers `draining`, and the page reconnects its socket (the load balancer sends it to
// another node) instead of showing a failure; on a full one (`busy`) it asks again later. Runs in node's test runner:
// `node --test tests/js/uplink.test.mjs`. The server side is tested for real in
// tests/integration/test_draining.py and test_ops.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Uplink } from "../../web/static/js/lib/uplink.js";

/** A socket whose calls are answered with the error ``code`` (with ``details``; the first
 * ``times`` calls, then ``conflict``); counts reconnects. */
function refusingSocket(code, { details, times = Infinity } = {}) {
  let left = times;
  return {
    connected: true,
    reconnects: 0,
    asked: [],
    on() {},
    async call(event) {
      this.asked.push(event);
      if (left-- > 0) return { error: { code, message: "this server refuses", details } };
      return { error: { code: "conflict", message: "enough for this test" } };
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

test("a full server: the page says it is reconnecting and asks again when told", async () => {
  // the first open_session is refused (busy), the next one answered (conflict, to end it)
  const socket = refusingSocket("busy", { details: { retry_after_s: 0.2 }, times: 1 });
  const states = [];
  const uplink = new Uplink(socket, null, (state, error) => states.push([state, error?.code]));
  await uplink.start();
  assert.deepEqual(states, [["reconnecting", undefined]]); // not "failed"
  await until(() => socket.asked.length === 2, 5000); // asked again after 0.2 s
  assert.deepEqual(socket.asked, ["open_session", "open_session"]);
  assert.equal(socket.reconnects, 0); // the same server: no new socket
  uplink.closed = true;
  clearTimeout(uplink._recoverTimer);
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

/** The least of RTCPeerConnection the uplink uses to make an offer (node has none). */
class OfferOnlyPeer {
  constructor() {
    this.connectionState = "new";
    this.iceGatheringState = "complete";
    this.localDescription = null;
  }
  addTransceiver() {
    return { sender: {} };
  }
  addEventListener() {}
  removeEventListener() {}
  async createOffer() {
    return { type: "offer", sdp: "v=0 offer" };
  }
  async setLocalDescription(description) {
    this.localDescription = description;
  }
  async setRemoteDescription() {}
  close() {}
}

test("its node died: the session is unknown on the new node, a new one is opened", async () => {
  // Issue #15: the socket reconnected through the load balancer to another node, where the
  // old session is not_found; the phone opens a new one with its scan's pairing (the server
  // continues the take there: tests/integration/test_take_failover.py).
  const asked = [];
  const socket = {
    connected: true,
    on() {},
    reconnect() {},
    async call(event, data) {
      asked.push([event, data]);
      if (event === "open_session" && data.resume) {
        return { error: { code: "not_found", message: "no such media session; open a new one" } };
      }
      if (event === "open_session") return { session_id: "s2", ice_servers: [] };
      return { type: "answer", sdp: "v=0 answer" };
    },
  };
  const before = globalThis.RTCPeerConnection;
  globalThis.RTCPeerConnection = OfferOnlyPeer;
  try {
    const stream = { getTracks: () => [{ kind: "video" }, { kind: "audio" }] };
    const uplink = new Uplink(socket, stream, () => {}, { role: "secondary", pairingId: "p1" });
    uplink.sessionId = "s1"; // its session on the node that died
    await uplink.start();
    assert.deepEqual(
      asked.map(([event, data]) => [event, data.session_id ?? null, data.resume ?? null]),
      [
        ["open_session", null, "s1"],
        ["open_session", null, null],
        ["offer", "s2", null],
      ],
    );
    assert.deepEqual(asked[1][1], { role: "secondary", pairing_id: "p1" });
    assert.equal(uplink.sessionId, "s2");
    uplink.closed = true;
  } finally {
    globalThis.RTCPeerConnection = before;
  }
});
