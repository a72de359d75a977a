// Elements of a page: found by their test id, built in one expression, a notice shown.
//
//   $("verify-start").addEventListener("click", start)        // <… data-testid="verify-start">
//   h("button", { class: "primary", i18n: "console.btn.save", onclick: save })
//   h("td", {}, fmtTime(exam.opens_at))

import { t } from "./i18n.js";

/** The element with ``data-testid="id"`` under ``root`` (the page by default), or null. */
export const $ = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

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

/** Show ``notice`` ({key, params, kind} or {text, kind}; kind "error" unless said) in ``el``,
 * or hide it. */
export function showNotice(el, notice) {
  el.hidden = !notice;
  if (!notice) {
    el.textContent = "";
    return;
  }
  el.textContent = notice.text ?? t(notice.key, notice.params);
  el.dataset.kind = notice.kind || "error";
}
