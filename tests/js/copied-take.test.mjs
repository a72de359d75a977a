// Which take the phone's local copy records (web/static/js/pages/pair/copied-take.js): the
// one the phone records into, and on through a moment the server lacks the phone's media.
// Runs in node's test runner: `node --test tests/js/copied-take.test.mjs`; the phone itself
// is checked in Chromium through a cut (tests/e2e/test_network_drops.py).
import assert from "node:assert/strict";
import { test } from "node:test";

import { copiedTake } from "../../web/static/js/pages/pair/copied-take.js";

const link = (state, takeId = "t1") => ({ state, take_id: takeId });

test("the take the phone records into is copied", () => {
  assert.equal(copiedTake(link("recording"), null), "t1");
  assert.equal(copiedTake(link("recording"), "t0"), "t1"); // a new take: its own copy
});

test("while the server lacks the phone's media the copy of its take goes on", () => {
  assert.equal(copiedTake(link("lost"), "t1"), "t1");
});

test("a lost phone does not start copying a take it was not copying", () => {
  assert.equal(copiedTake(link("lost"), null), null);
  assert.equal(copiedTake(link("lost"), "t0"), null);
});

test("without a take, or outside it, nothing is copied", () => {
  assert.equal(copiedTake(null, null), null);
  assert.equal(copiedTake(link("lost", null), "t1"), null); // the take stopped meanwhile
  for (const state of ["paired", "connected", "ready", "stopped"]) {
    assert.equal(copiedTake(link(state), "t1"), null, state);
  }
});
