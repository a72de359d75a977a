// What the staff pages (console, reviews, proctor) share: notices, times and sizes as
// people read them, and the way back after the session ends.
// Elements are built with lib/dom.js's h(); refusals are worded by lib/errors.js.

import { ApiError, LOGIN_PATH, logOut } from "./api.js";
import { h } from "./dom.js";
import { errorText } from "./errors.js";
import { lang, setLang, t, translatePage } from "./i18n.js";

/** A notice paragraph (app.css ``.notice``) of ``kind`` error, warning, info or ok. */
export function notice(kind, text, testid = undefined) {
  return h("p", { class: "notice", dataset: { kind }, role: kind === "error" ? "alert" : "status",
    testid }, text);
}

// -- times ---------------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

/** Local date and time, e.g. 2027-03-01 09:00. */
export function fmtTime(unix) {
  if (unix === null || unix === undefined) return "—";
  const d = new Date(unix * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
    + `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The value of a datetime-local input showing ``unix`` in local time. */
export function toLocalInput(unix) {
  return unix === null || unix === undefined ? "" : fmtTime(unix).replace(" ", "T");
}

/** Unix seconds of a datetime-local value (local time); null when empty or unreadable. */
export function fromLocalInput(value) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value || "");
  if (!match) return null;
  const [, y, mo, d, hh, mm, ss] = match.map(Number);
  return new Date(y, mo - 1, d, hh, mm, ss || 0).getTime() / 1000;
}

/** 90 → "1 分 30 秒" / "1 min 30 s". */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  const s = Math.round(seconds);
  const parts = [
    [Math.floor(s / 3600), "console.unit.h"],
    [Math.floor((s % 3600) / 60), "console.unit.min"],
    [s % 60, "console.unit.s"],
  ].filter(([n]) => n > 0);
  if (!parts.length) return t("console.unit.s", { n: 0 });
  return parts.map(([n, key]) => t(key, { n })).join(" ");
}

export const MB = 1024 * 1024;

export function fmtBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < MB) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / MB).toFixed(bytes < 10 * MB ? 1 : 0)} MB`;
}

/** A number shown without trailing zeros: 30, 0.5, 1.25. */
export function trimNumber(value, places = 3) {
  return String(Number(value.toFixed(places)));
}

/** ``zh``/``en`` name of an ID type from the server ({code, name_zh, name_en}). */
export function idTypeName(type) {
  if (!type) return "";
  if (typeof type === "string") return type;
  return lang() === "en" ? type.name_en : type.name_zh;
}

// -- talking to the server -------------------------------------------------------------------

/** The login page, coming back to this exact view (hash included) afterwards. */
export function loginHere() {
  const next = location.pathname + location.search + location.hash;
  return `${LOGIN_PATH}?next=${encodeURIComponent(next)}`;
}

/** The session ended while working: to the login page, back here afterwards. */
export function handleSessionEnd(err) {
  if (err instanceof ApiError && err.status === 401) {
    location.replace(`${loginHere()}&ended=1`);
    return true;
  }
  return false;
}

/** A place for one message at a time that follows the language: show(kind, () => text). */
export function messageArea(testid) {
  const el = h("div", { class: "messages", testid, "aria-live": "polite" });
  let current = null;
  const render = () => {
    el.dataset.kind = current?.kind || "";
    el.replaceChildren(...(current ? [notice(current.kind, current.text())] : []));
  };
  return {
    el,
    render,
    show(kind, text) {
      current = { kind, text: typeof text === "function" ? text : () => text };
      render();
    },
    clear() {
      current = null;
      render();
    },
  };
}

/** Runs ``work`` with ``button`` disabled: ``message`` cleared when it succeeds, the refusal
 *  shown there when it fails (the session's end goes to the login page), then ``render()``. */
export async function busyWith(button, message, work, render) {
  button.disabled = true;
  try {
    await work();
    message.clear();
  } catch (err) {
    if (handleSessionEnd(err)) return;
    message.show("error", () => errorText(err, "console"));
  } finally {
    button.disabled = false;
    render();
  }
}

/** The staff page's top bar: its words translated, the language switch (``ui.lang``) and
 *  log-out (``ui.logOut``), after which the page goes to ``next`` (default: the login page,
 *  back here afterwards). */
export function setUpTopBar(ui, next = undefined) {
  translatePage();
  ui.lang.addEventListener("click", () => setLang(lang() === "zh" ? "en" : "zh"));
  ui.logOut.addEventListener("click", async () => {
    try {
      await logOut();
    } catch (err) {
      console.warn(err);
    }
    location.replace(next ?? loginHere());
  });
}

/** The page's first load failed: true when the session has ended (the page goes to the
 *  login page), else false with the refusal in ``main`` (testid view-error). */
export function loadFailed(main, err) {
  if (err instanceof ApiError && err.status === 401) {
    location.replace(loginHere());
    return true;
  }
  main.replaceChildren(notice("error", errorText(err, "console"), "view-error"));
  return false;
}
