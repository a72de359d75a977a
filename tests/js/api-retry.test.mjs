// lib/api.js sends a GET again when it did not reach the server (fetch() rejected: the
// network changed under the page), after GET_RETRY_MS; other methods fail at once. Runs
// in node's test runner with a stand-in fetch and node's mock timers: no waiting.
import assert from "node:assert/strict";
import { mock, test } from "node:test";

globalThis.location = { href: "https://exam.example.edu/console",
  origin: "https://exam.example.edu" };
let failures = 0; // how many calls to fetch reject before one answers
const calls = [];
globalThis.fetch = async (url, options) => {
  calls.push(options.method);
  if (failures > 0) {
    failures -= 1;
    throw new TypeError("Failed to fetch");
  }
  return { ok: true, text: async () => '{"account": {"id": "a1"}}' };
};

const { api, ApiError, GET_RETRY_MS } = await import("../../web/static/js/lib/api.js");

// Let the pending promise chain run up to its next timer.
const settle = () => new Promise((resolve) => { setImmediate(resolve); });

// ``body`` with node's mock setTimeout, counting fetch calls afresh.
async function withMockTimers(body) {
  mock.timers.enable({ apis: ["setTimeout"] });
  calls.length = 0;
  try {
    await body();
  } finally {
    mock.timers.reset();
  }
}

async function runThrough(promise) {
  let outcome = null;
  promise.then((value) => { outcome = { value }; }, (error) => { outcome = { error }; });
  for (const wait of GET_RETRY_MS) {
    await settle();
    if (outcome) break;
    mock.timers.tick(wait);
  }
  await settle();
  return outcome;
}

test("a GET that loses the network is sent again and answers", () => withMockTimers(async () => {
  failures = GET_RETRY_MS.length; // every retry but the last fails too
  const outcome = await runThrough(api("GET", "/api/me"));
  assert.deepEqual(outcome, { value: { account: { id: "a1" } } });
  assert.equal(calls.length, GET_RETRY_MS.length + 1);
}));

test("a GET is not sent before its wait is over", () => withMockTimers(async () => {
  failures = 1;
  const promise = api("GET", "/api/me");
  await settle();
  assert.equal(calls.length, 1);
  mock.timers.tick(GET_RETRY_MS[0] - 1);
  await settle();
  assert.equal(calls.length, 1);
  mock.timers.tick(1);
  await settle();
  assert.equal(calls.length, 2);
  assert.deepEqual(await promise, { account: { id: "a1" } });
}));

test("a GET still without the network after its retries is a network error", () => withMockTimers(async () => {
  failures = GET_RETRY_MS.length + 1;
  const { error } = await runThrough(api("GET", "/api/me"));
  assert.ok(error instanceof ApiError);
  assert.equal(error.status, 0);
  assert.equal(error.code, "network");
  assert.equal(calls.length, GET_RETRY_MS.length + 1);
}));

test("a POST is never sent twice: the server may have done it", async () => {
  calls.length = 0;
  failures = 1;
  await assert.rejects(api("POST", "/api/admission/confirm"),
    (err) => err instanceof ApiError && err.code === "network");
  assert.deepEqual(calls, ["POST"]);
  failures = 0;
});
