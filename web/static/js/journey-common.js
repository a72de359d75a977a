// Small helpers shared by the journey page's modules: elements by test id, the
// texts the server sends in both languages, documents and detail lists as DOM.

import { ApiError } from "./api.js";
import { lang, t } from "./i18n.js";

export const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

/** ``value`` in the page's language: the server sends texts as {zh, en} or as a string. */
export function pick(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  return value[lang()] ?? value.zh ?? "";
}

/** What went wrong, for a refusal this page has no own words for. */
export function errorText(err) {
  if (!(err instanceof ApiError) || err.code === "network") return t("err.network");
  return t("err.server", { message: err.message });
}

/** A versioned text (agreement, notice, letter) as an <article>, one <p> per line. */
export function documentElement(doc, { heading = true } = {}) {
  const article = document.createElement("article");
  article.className = "doc";
  article.dataset.kind = doc.kind;
  article.dataset.version = doc.version;
  if (heading) {
    const title = document.createElement("h3");
    title.textContent = pick(doc.title);
    article.append(title);
  }
  const body = document.createElement("div");
  body.className = "doc-body";
  for (const line of pick(doc.body).split(/\n+/).filter((l) => l.trim())) {
    const p = document.createElement("p");
    p.textContent = line;
    body.append(p);
  }
  const version = document.createElement("p");
  version.className = "doc-version";
  version.textContent = t("journey.doc.version", { version: doc.version });
  article.append(body, version);
  return article;
}

/** Fill a <dl> with [label, value] rows. */
export function fillDetails(dl, rows) {
  dl.replaceChildren(...rows.flatMap(([label, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.textContent = value;
    return [dt, dd];
  }));
}

/** The rows a candidate checks: name, ID type, ID number (as registered). */
export function identityRows(person) {
  const type = person.id_type || {};
  return [
    [t("field.name"), person.name],
    [t("field.idType"), lang() === "en" ? type.name_en : type.name_zh],
    [t("field.idNumber"), person.id_number],
  ];
}

export function formatBytes(bytes) {
  const mb = bytes / (1024 * 1024);
  if (mb >= 1) return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

/** A server time (Unix seconds) as a local date and time in the page's language. */
export { dateTime as formatTime } from "./format.js";

/** Show ``notice`` ({key, params, kind} or {text, kind}) in ``el``, or hide it. */
export function showNotice(el, notice) {
  el.hidden = !notice;
  if (!notice) {
    el.textContent = "";
    return;
  }
  el.textContent = notice.text ?? t(notice.key, notice.params);
  el.dataset.kind = notice.kind || "error";
}
