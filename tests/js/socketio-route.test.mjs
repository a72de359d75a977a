// The media socket names its candidate (web/static/js/lib/socketio.js): c=<candidate id>
// in the URL of every connection, by which the load balancer keeps a candidate's media on
// one node; a route still being learnt holds the connection back, and a changed route
// opens the connection again. Runs in node's test runner with a stand-in WebSocket that
// records the URLs it is opened with (the real connection: tests/integration/test_cluster.py).
import assert from "node:assert/strict";
import { test } from "node:test";

const opened = [];
class RecordingSocket {
  static OPEN = 1;
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    opened.push(this);
  }
  close() {
    this.readyState = 3;
    this.onclose?.();
  }
  send() {}
}
globalThis.WebSocket = RecordingSocket;
globalThis.location = { protocol: "https:", host: "exam.example.edu" };
globalThis.addEventListener = () => {};
globalThis.performance ??= { now: () => Date.now() };

const { SocketClient, routedUrl } = await import("../../web/static/js/lib/socketio.js");

const pause = (ms) => new Promise((resolve) => {
  setTimeout(resolve, ms);
});
const settle = () => pause(0);

test("routedUrl adds c= to the socket's URL, escaped, and nothing without a route", () => {
  const url = "wss://exam.example.edu/socket.io/?EIO=4&transport=websocket";
  assert.equal(routedUrl(url, null), url);
  assert.equal(routedUrl(url, "acc 1/2"), `${url}&c=acc+1%2F2`);
});

test("a socket built with a route opens with c=", () => {
  opened.length = 0;
  const socket = new SocketClient({ route: "cand-1" });
  socket.connect().catch(() => {});
  assert.equal(opened.length, 1);
  assert.match(opened[0].url, /^wss:\/\/exam\.example\.edu\/socket\.io\/\?.*&c=cand-1$/);
  socket.close();
});

test("connecting waits for a route being learnt, then opens once, with it", async () => {
  opened.length = 0;
  const socket = new SocketClient();
  let learnt;
  socket.routeTo(new Promise((resolve) => { learnt = resolve; }));
  socket.connect().catch(() => {});
  await settle();
  assert.equal(opened.length, 0); // held back
  learnt("cand-2");
  await settle();
  assert.equal(opened.length, 1);
  assert.match(opened[0].url, /&c=cand-2$/);
  socket.close();
});

test("a connection opened without the route is opened again with it", async () => {
  opened.length = 0;
  const socket = new SocketClient({ minDelayMs: 1, maxDelayMs: 1 });
  socket.connect().catch(() => {});
  assert.equal(opened.length, 1);
  assert.doesNotMatch(opened[0].url, /c=/);
  await socket.routeTo("cand-3");
  for (let i = 0; i < 100 && opened.length < 2; i += 1) await pause(5); // its retry: ~1 ms
  assert.equal(opened.length, 2);
  assert.match(opened[1].url, /&c=cand-3$/);
  await socket.routeTo("cand-3"); // the same route: nothing happens
  assert.equal(opened.length, 2);
  socket.close();
});

test("a route that cannot be learnt leaves the socket as it was (it still connects)", async () => {
  opened.length = 0;
  const socket = new SocketClient();
  socket.routeTo(Promise.reject(new Error("offline")));
  socket.connect().catch(() => {});
  await settle();
  await settle();
  assert.equal(opened.length, 1);
  assert.doesNotMatch(opened[0].url, /c=/);
  socket.close();
});
