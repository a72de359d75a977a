// ESLint's flat config for the pages' scripts (web/static/js: browser ES modules, no build
// step) and the catalogue tests (tests/js: node's test runner). scripts/lint-js runs it.
//
// Its packages are not in the repository: scripts/setup --test installs pinned versions into
// .venv/node-lint (EXAMCAST_NODE_LINT names another folder), so they are loaded from there
// rather than by bare import, which would look for a node_modules beside this file.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const lintDir = process.env.EXAMCAST_NODE_LINT ?? path.join(here, ".venv", "node-lint");
const require = createRequire(path.join(lintDir, "package.json"));
const js = require("@eslint/js");
const globals = require("globals");

// What catches real bugs in plain browser JS, on top of eslint's recommended set.
const rules = {
  // `const { id, ...kept } = obj` is how a page drops fields: the dropped names are not unused.
  "no-unused-vars": ["error", { args: "after-used", caughtErrors: "none", ignoreRestSiblings: true }],
  // `let data = null; try { data = parse() } catch { data = null }` reads fine; not a bug.
  "no-useless-assignment": "off",
  "no-use-before-define": ["error", { functions: false, classes: false, variables: false }],
  "no-shadow-restricted-names": "error",
  "no-self-compare": "error",
  "no-template-curly-in-string": "error",
  "no-unmodified-loop-condition": "error",
  "no-unreachable-loop": "error",
  "no-promise-executor-return": "error",
  "no-constructor-return": "error",
  "array-callback-return": "error",
  eqeqeq: ["error", "smart"],
  "no-implicit-globals": "error",
  "no-new-func": "error",
  "no-eval": "error",
  "no-var": "error",
  "prefer-const": ["error", { destructuring: "all" }],
};

export default [
  js.configs.recommended,
  {
    files: ["web/static/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser },
    },
    rules,
  },
  {
    files: ["tests/js/**/*.mjs", "eslint.config.mjs"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.node },
    },
    rules,
  },
];
