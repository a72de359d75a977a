// What the console's views share: building elements, times and sizes as people read
// them, uploads of raw bodies, and the words for the server's refusals.
//
//   h("button", { class: "primary", i18n: "console.btn.save", onclick: save })
//   h("td", {}, fmtTime(exam.opens_at))

import { ApiError, LOGIN_PATH } from "./api.js";
import { lang, t } from "./i18n.js";

/** An element: ``attrs`` holds class, text, i18n (a catalogue key), testid, data-*,
 * on<event> listeners, properties (value, checked, hidden, disabled) and attributes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name === "i18n") {
      el.dataset.i18n = value;
      el.textContent = t(value);
    } else if (name === "i18nLabel") {
      el.dataset.i18nLabel = value;
      el.setAttribute("aria-label", t(value));
    } else if (name === "testid") el.dataset.testid = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (["value", "checked", "hidden", "disabled", "selected"].includes(name)) {
      el[name] = value;
    } else el.setAttribute(name, value === true ? "" : value);
  }
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

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

/** ``method path`` with a raw body (a file) of ``type``; the JSON answer, or ApiError. */
export async function send(method, path, body, type) {
  let response;
  try {
    response = await fetch(path, {
      method,
      body,
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": type },
    });
  } catch (err) {
    throw new ApiError(0, "network", String(err));
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.ok) return data;
  const error = data?.error || {};
  throw new ApiError(response.status, error.code || `http_${response.status}`,
    error.message || response.statusText, error.details);
}

/** The login page, coming back to this exact view (hash included) afterwards. */
export function loginHere() {
  const next = location.pathname + location.search + location.hash;
  return `${LOGIN_PATH}?next=${encodeURIComponent(next)}`;
}

/** What went wrong, in the page's language, with what to do next. */
export function errorText(err) {
  if (!(err instanceof ApiError)) return t("console.err.unexpected", { message: String(err) });
  switch (err.code) {
    case "network": return t("console.err.network");
    case "unauthenticated": return t("console.err.session");
    case "forbidden": return t("console.err.forbidden", { message: err.message });
    case "not_found": return t("console.err.notFound", { message: err.message });
    case "rate_limited": return t("console.err.wait", { seconds: err.details.retry_after || 1 });
    case "too_large": return t("console.err.tooLarge", { message: err.message });
    default: return t("console.err.server", { message: err.message });
  }
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
