// The two catalogues of the pages' strings (web/static/js/lang) say the same things: the same
// keys, and per key the same {placeholders} (t() in i18n.js fills them by name, so a name
// missing in one language leaves a sentence with a hole). Runs in node's test runner, without
// a browser: `node --test tests/js/` (tests/unit/test_js_suites.py runs it under pytest).
import assert from "node:assert/strict";
import { test } from "node:test";

import en from "../../web/static/js/lang/en.js";
import zh from "../../web/static/js/lang/zh.js";

// The same pattern as t() in i18n.js.
const PLACEHOLDER = /\{(\w+)\}/g;

function placeholders(text) {
  return [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]))].sort();
}

test("every entry is a string", () => {
  // Some are empty on purpose (Chinese needs no separator where English has a space).
  for (const [name, catalogue] of Object.entries({ zh, en })) {
    const bad = Object.entries(catalogue)
      .filter(([, text]) => typeof text !== "string")
      .map(([key]) => key);
    assert.deepEqual(bad, [], `${name}.js has entries that are not strings`);
  }
});

test("zh and en have the same keys", () => {
  const onlyZh = Object.keys(zh).filter((key) => !(key in en));
  const onlyEn = Object.keys(en).filter((key) => !(key in zh));
  assert.deepEqual({ onlyZh, onlyEn }, { onlyZh: [], onlyEn: [] });
});

test("each key has the same {placeholders} in zh and en", () => {
  const differ = Object.keys(zh)
    .filter((key) => key in en)
    .map((key) => ({ key, zh: placeholders(zh[key]), en: placeholders(en[key]) }))
    .filter((row) => row.zh.join() !== row.en.join());
  assert.deepEqual(differ, []);
});
