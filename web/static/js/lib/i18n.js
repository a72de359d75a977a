// Every string the pages show, one catalogue per language. Chinese is the
// default; the choice is remembered in localStorage. A link can choose it too:
// ?lang=en on any page's address switches to English and remembers it.
//
// In HTML: <span data-i18n="key"></span> (text), data-i18n-label="key" (aria-label),
// <html data-title="key"> (the window title; "page.title" when absent).
// In JS: t("key", {name: value}) fills {name} placeholders.

import en from "../lang/en.js";
import zh from "../lang/zh.js";

// One catalogue per language, in js/lang/.
export const CATALOGUES = { zh, en };

const STORAGE_KEY = "examcast.lang";
const HTML_LANG = { zh: "zh-CN", en: "en" };
const listeners = new Set();

function stored() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage blocked (private mode on some browsers)
  }
}

function remember(code) {
  try {
    localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // not remembered; the page still switches
  }
}

/** The address's ?lang= (a link's choice) if it names a catalogue, else the remembered one. */
function chosen() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (CATALOGUES[asked]) {
    remember(asked);
    return asked;
  }
  return CATALOGUES[stored()] ? stored() : "zh";
}

let current = chosen();

export function lang() {
  return current;
}

/** True when the catalogues have ``key`` (for keys made from server codes). */
export function has(key) {
  return key in CATALOGUES.zh;
}

/** ``value`` in the page's language: the server sends texts as {zh, en} or as a string. */
export function pick(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  return value[current] ?? value.zh ?? "";
}

export function t(key, params = {}) {
  const text = CATALOGUES[current][key] ?? CATALOGUES.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => {
    // A sentence missing a value reads wrong: say so where the tests look (the console).
    if (!(name in params)) console.warn(`i18n: "${key}" was given no {${name}}`);
    return String(params[name] ?? "");
  });
}

export function setLang(code) {
  if (!CATALOGUES[code]) return;
  current = code;
  remember(code);
  translatePage();
  for (const fn of listeners) fn(code);
}

export function onLangChange(fn) {
  listeners.add(fn);
}

/** Fill every data-i18n / data-i18n-label element under ``root`` in the current language. */
export function translatePage(root = document) {
  document.documentElement.lang = HTML_LANG[current];
  document.title = t(document.documentElement.dataset.title || "page.title");
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}
