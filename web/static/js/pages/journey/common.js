// Small helpers of the journey page: documents and detail lists as DOM.

import { lang, pick, t } from "../../lib/i18n.js";

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
