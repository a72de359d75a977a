// The pages' scripts keep their layout (docs/pages.md): every relative import and every
// page's <script src> names a file that exists; modules import only downwards (pages/ →
// components/ → lib/ → lang/), and a page's own folder only from that page; and what was
// made one stays one: the fetch wrapper (lib/api.js), `$` (lib/dom.js), errorText
// (lib/errors.js). Runs in node's test runner: `node --test tests/js/`.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const STATIC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../web/static");
const JS = path.join(STATIC, "js");
const LEVEL = { lang: 0, lib: 1, components: 2, pages: 3 };
// `from "./x.js"`, `import "./x.js"`, `import("./x.js")`: relative specifiers only.
const IMPORT = /(?:\bfrom|\bimport)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g;

function modules(dir = JS) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return modules(full);
    return entry.name.endsWith(".js") ? [full] : [];
  });
}

/** The module's source without its comments (a comment may show an example import). */
function code(file) {
  return readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

function where(file) {
  return path.relative(JS, file).split(path.sep);
}

test("every relative import names a module that exists", () => {
  const missing = [];
  for (const file of modules()) {
    for (const [, spec] of code(file).matchAll(IMPORT)) {
      if (!existsSync(path.resolve(path.dirname(file), spec))) {
        missing.push(`${path.relative(JS, file)}: ${spec}`);
      }
    }
  }
  assert.deepEqual(missing, []);
});

test("modules import downwards, and a page's folder only from that page", () => {
  const wrong = [];
  for (const file of modules()) {
    const [from, fromPage] = where(file);
    for (const [, spec] of code(file).matchAll(IMPORT)) {
      const [to, toPage] = where(path.resolve(path.dirname(file), spec));
      assert.ok(to in LEVEL, `${path.relative(JS, file)} imports ${spec}, outside the folders`);
      if (LEVEL[to] > LEVEL[from]) wrong.push(`${path.relative(JS, file)} → ${spec} (upwards)`);
      if (from === "pages" && to === "pages"
          && fromPage.replace(/\.js$/, "") !== toPage.replace(/\.js$/, "")) {
        wrong.push(`${path.relative(JS, file)} → ${spec} (another page's module)`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

test("every page loads existing modules from pages/ or components/, and no inline script", () => {
  const pages = readdirSync(STATIC).filter((name) => name.endsWith(".html"));
  assert.ok(pages.length > 0);
  const wrong = [];
  for (const name of pages) {
    const html = readFileSync(path.join(STATIC, name), "utf8");
    // boot.js first, a classic script before the sheets and modules it watches
    const first = html.match(/<(script|link rel="stylesheet")\b[^>]*>/)?.[0];
    if (first !== '<script src="/static/js/boot.js">') wrong.push(`${name}: boot.js is not first`);
    const scripts = [...html.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1])
      .filter((attrs) => attrs !== ' src="/static/js/boot.js"');
    for (const attrs of scripts) {
      const src = attrs.match(/\bsrc="\/static\/js\/([^"]+)"/)?.[1];
      if (!src) wrong.push(`${name}: a <script> without src`);
      else if (!/^(pages|components)\//.test(src)) wrong.push(`${name}: ${src} is not a page or component`);
      else if (!existsSync(path.join(JS, src))) wrong.push(`${name}: ${src} does not exist`);
    }
    const entry = `pages/${name.replace(/\.html$/, ".js")}`;
    if (!scripts.some((attrs) => attrs.includes(`/static/js/${entry}"`))) {
      wrong.push(`${name}: does not load its entry module ${entry}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("one fetch wrapper, one $, one errorText", () => {
  const found = { fetch: [], $: [], errorText: [] };
  for (const file of modules()) {
    const source = code(file);
    const name = path.relative(JS, file).split(path.sep).join("/");
    if (/(?<![.\w])fetch\(/.test(source)) found.fetch.push(name);
    if (/\b(?:const|let|var|function)\s+\$(?![\w$])/.test(source)) found.$.push(name);
    if (/\bfunction\s+errorText\b|\berrorText\s*=/.test(source)) found.errorText.push(name);
  }
  assert.deepEqual(found, { fetch: ["lib/api.js"], $: ["lib/dom.js"], errorText: ["lib/errors.js"] });
});
