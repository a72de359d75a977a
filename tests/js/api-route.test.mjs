// The candidate's pages send c=<candidate id> with every call (lib/api.js routeCalls,
// decision 0026): api(), tus.js and upload.js reach the node of the candidate's media and
// uploads. Runs in node's test runner with a stand-in fetch that records the URLs.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.location = { href: "https://exam.example.edu/exams/e1/questions/q1",
  origin: "https://exam.example.edu" };
const fetched = [];
globalThis.fetch = async (url) => {
  fetched.push(url);
  return { ok: true, text: async () => "{}" };
};

const { api, routeCalls, routed } = await import("../../web/static/js/lib/api.js");
const { uploadIdOf } = await import("../../web/static/js/lib/tus.js");

test("no route: paths are sent as they are", async () => {
  routeCalls(null);
  assert.equal(routed("/api/me"), "/api/me");
  await api("GET", "/api/me");
  assert.equal(fetched.at(-1), "/api/me");
});

test("a route: every call on this site carries c=, escaped, once", async () => {
  routeCalls("acc 1/2");
  await api("POST", "/api/exams/e1/questions/q1/formal");
  assert.equal(fetched.at(-1), "/api/exams/e1/questions/q1/formal?c=acc+1%2F2");
  assert.equal(routed("/api/exams/e1/uploads?device_id=d1"),
    "/api/exams/e1/uploads?device_id=d1&c=acc+1%2F2");
  assert.equal(routed("/api/uploads/u1?c=other"), "/api/uploads/u1?c=other"); // the server's
  assert.equal(routed("https://elsewhere.example.com/x"), "https://elsewhere.example.com/x");
  routeCalls(null);
});

test("an upload's id is the end of its URL, without the query", () => {
  assert.equal(uploadIdOf("/api/uploads/abc123?c=acc1"), "abc123");
  assert.equal(uploadIdOf("/api/uploads/abc123"), "abc123");
});
