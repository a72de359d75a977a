// The server's field problems (details.fields: {"questions[1].materials[0].max_bytes":
// "must be at least 1"}) shown next to the right field, in the page's language.
//
// Each form field is a <div class="field"> registered under its full path when the
// form is read; a problem whose path names no field (formats[2], a whole question)
// goes to the nearest registered parent, else to the form's summary.

import { has, t } from "../../lib/i18n.js";
import { fmtBytes } from "../../lib/staff-page.js";
import { h } from "../../lib/dom.js";

const KINDS = ["video", "audio", "image", "text", "pdf"];
const kindName = (kind) => (KINDS.includes(kind) ? t(`console.kind.${kind}`) : kind);
const kindList = (text) => text.split(/ or |, /).map(kindName).join(t("console.v.or"));

// Every message the server's settings checks give (exams/fields.py, exams/questions.py,
// exams/exams.py, exams/catalog.py, web/schema.py), as a catalogue key and its values.
const MESSAGES = [
  [/^(?:is required|must not be empty)$/, "console.v.required"],
  [/^must (?:be|have) at most (\d+) characters$/, "console.v.maxChars", ["n"]],
  [/^must be a whole number from (\d+) to (\d+), or null for unlimited$/,
    "console.v.rangeOrUnlimited", ["low", "high"]],
  [/^must be a whole number from (\d+) to (\d+), or null for until the exam ends$/,
    "console.v.rangeOrExamEnd", ["low", "high"]],
  [/^must be (?:a whole number|an integer|a number|an integer or a null)$/, "console.v.whole"],
  [/^must be from (\d+) to (\d+)$/, "console.v.range", ["low", "high"]],
  [/^must be at least min_count \((\d+)\)$/, "console.v.maxBelowMinCount", ["n"]],
  [/^must be at least min_bytes \((\d+)\)$/, "console.v.maxBelowMinBytes", ["size"]],
  [/^must be at least (\d+)$/, "console.v.atLeast", ["n"]],
  [/^must be a time in Unix seconds$/, "console.v.time"],
  [/^must be after opens_at$/, "console.v.closesAfterOpens"],
  [/^must be longer than reading plus recording time \((\d+) s\)/,
    "console.v.submissionTooShort", ["n"]],
  [/^must be 0 \(or absent\) when rehearsals are not allowed/, "console.v.rehearsalCount"],
  [/^is only possible when formal_count is 1/, "console.v.autoSubmitSingle"],
  [/^cannot be combined with required materials/, "console.v.autoSubmitMaterials"],
  [/^'(.*)' is used by another material/, "console.v.materialKey", ["key"]],
  [/^is always 1 for text/, "console.v.textCount"],
  [/^does not apply to text/, "console.v.notForText"],
  [/^applies to text only/, "console.v.textOnly"],
  [/^list the file extensions accepted/, "console.v.formatsRequired"],
  [/^must be a file extension such as/, "console.v.formatBad"],
  [/^list at least one kind of file/, "console.v.kindsRequired"],
  [/^the server cannot check \.(\S+) files by their content; use one of (.+)$/,
    "console.v.formatUnknown", ["format", "known"]],
  [/^\.(\S+) holds (\w+); this accepts only (.+) files$/, "console.v.formatWrongKind",
    ["format", "kind", "kinds"]],
  [/^'(.*)' is used twice; give each its own id$/, "console.v.idTwice", ["id"]],
  [/^(\d+) is already the place of question/, "console.v.orderTwice", ["n"]],
  [/^may have at most (\d+) items$/, "console.v.maxItems", ["n"]],
  [/^must be one of (.+)$/, "console.v.oneOf", ["values"]],
  [/^is not a (?:known field|setting here)/, "console.v.unknown"],
];

const VALUE = {
  size: (v) => fmtBytes(Number(v)),
  kind: kindName,
  kinds: kindList,
};

// The tail of a reason that itself holds "; " (already said by its translation).
const CONTINUATIONS = [/^make them optional or turn auto_submit off/];

function match(text) {
  for (const [re, key, names = []] of MESSAGES) {
    const m = re.exec(text);
    if (!m) continue;
    const value = (name, i) => [name, (VALUE[name] || String)(m[i + 1])];
    return { key, params: Object.fromEntries(names.map(value)), length: m[0].length };
  }
  return null;
}

/** One server reason (or several joined by "; ") in the page's language; what the
 * catalogue does not know is shown as the server wrote it. */
export function translate(serverText) {
  const out = [];
  let rest = serverText;
  while (rest) {
    const hit = match(rest);
    const next = rest.indexOf("; ", hit ? hit.length : 0);
    const part = next < 0 ? rest : rest.slice(0, next);
    if (hit) out.push(t(hit.key, hit.params));
    else if (!CONTINUATIONS.some((re) => re.test(part))) out.push(part);
    rest = next < 0 ? "" : rest.slice(next + 2);
  }
  return out.join(t("console.v.sep"));
}

/** Where a path's problem is shown: the field itself or the nearest registered parent. */
function slotFor(fields, path) {
  let p = path;
  while (p) {
    if (fields.has(p)) return fields.get(p);
    const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
    if (cut <= 0) break;
    p = p.slice(0, cut);
  }
  return null;
}

/** Remove every mark a previous attempt left in ``root``. */
export function clearFieldErrors(root) {
  for (const el of root.querySelectorAll(".field-error[data-shown]")) {
    el.hidden = true;
    el.textContent = "";
    delete el.dataset.shown;
  }
  for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of root.querySelectorAll(".has-error")) el.classList.remove("has-error");
}

/** Show ``problems`` ({path: the server's reason, or a catalogue key}) by their fields;
 * each comes back as {path, text, label, slot} for the summary (slot null: no field
 * shows it). ``labelOf(path)`` names a path. */
export function showFieldErrors(fields, problems, labelOf) {
  const summary = [];
  for (const [path, reason] of Object.entries(problems)) {
    // The page's own findings are catalogue keys; the server's are its words.
    const text = has(reason) ? t(reason) : translate(reason);
    const slot = slotFor(fields, path);
    summary.push({ path, text, label: labelOf(path), slot });
    if (!slot) continue;
    slot.classList.add("has-error");
    const line = slot.querySelector(":scope > .field-error");
    if (line) {
      line.hidden = false;
      const before = line.dataset.shown ? `${line.textContent}${t("console.v.sep")}` : "";
      line.textContent = before + text;
      line.dataset.shown = "1";
      if (!has(reason)) line.title = reason; // the server's own words, for a support call
    }
    for (const input of slot.querySelectorAll(":scope > .control input, :scope > .control select,"
      + " :scope > .control textarea, :scope > input, :scope > select, :scope > textarea")) {
      input.setAttribute("aria-invalid", "true");
    }
  }
  return summary;
}

/** The summary above a form: how many problems, each a link to its field. */
export function problemSummary(items, testid = "problems") {
  const list = h("ul", { class: "problem-list" }, items.map((item) => h("li", {},
    h("button", {
      type: "button",
      class: "link",
      onclick: () => {
        const target = item.slot?.querySelector("input, select, textarea") || item.slot;
        target?.scrollIntoView({ block: "center" });
        target?.focus?.();
      },
    }, item.label ? t("console.v.item", { label: item.label, text: item.text }) : item.text))));
  return h("div", { class: "notice problems", dataset: { kind: "error" }, role: "alert", testid },
    h("p", {}, t("console.v.summary", { n: items.length })), list);
}

/** A form field: label, the control (with an optional unit after it), hint, error line. */
export function field({ key, label, control, unit, hint, testid, wide, extra }) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 10)}`;
  control.id = id;
  if (testid) control.dataset.testid = testid;
  return h("div", { class: `field${wide ? " wide" : ""}`, dataset: { field: key } },
    h("label", { for: id, i18n: label }),
    h("div", { class: "control" }, control, unit ? h("span", { class: "unit", i18n: unit }) : null,
      extra || null),
    hint ? h("p", { class: "field-hint", i18n: hint }) : null,
    h("p", { class: "field-error", testid: "field-error", hidden: true }));
}

/** A checkbox with its label on the right, as a field (it can carry an error too). */
export function checkField({ key, label, checked, testid, hint, onchange }) {
  const box = h("input", { type: "checkbox", checked: Boolean(checked), testid, onchange });
  return h("div", { class: "field check", dataset: { field: key } },
    h("label", { class: "check-label" }, box, h("span", { i18n: label })),
    hint ? h("p", { class: "field-hint", i18n: hint }) : null,
    h("p", { class: "field-error", testid: "field-error", hidden: true }));
}
