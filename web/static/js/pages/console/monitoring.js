// The exam editor's "monitoring" section: per detector, on or off and how many seconds the
// condition must last before it becomes an incident (exam.monitoring, checked by the server:
// exams/catalog/monitoring.py). A camera lost (2 s) and a page reload (at once) are fixed.
// It stays editable after candidates started: the thresholds are not part of the answers.

import { h } from "../../lib/dom.js";
import { checkField, field } from "./fields.js";

// In the server's order (DEFAULTS); the defaults, shown until the exam has its own.
export const KINDS = [
  ["camera_dark", 5], ["picture_frozen", 10], ["no_face", 10], ["many_faces", 3],
  ["silence", 20], ["camera_lost", 2], ["second_camera_missing", 10], ["page_hidden", 0],
  ["window_left", 0], ["fullscreen_left", 0], ["page_reloaded", 0], ["face_not_recognised", 0],
];
// face_not_recognised counts checks (two mismatches in a row), not seconds
const FIXED = new Set(["camera_lost", "page_reloaded", "face_not_recognised"]);

/** The label key of a problem's path ``monitoring.<kind>[.<field>]``, or null. */
export function monitoringLabel(path) {
  const m = /^monitoring\.([a-z_]+)(?:\.(enabled|after_s))?$/.exec(path);
  if (!m) return null;
  return [`console.monitoring.kind.${m[1]}`,
    m[2] === "enabled" ? "console.monitoring.enabled" : "console.monitoring.after"];
}

export class MonitoringSection {
  /** ``rules``: the exam's ``monitoring`` ({kind: {enabled, after_s}}), or undefined. */
  constructor(rules) {
    this.rows = KINDS.map(([kind, seconds]) => {
      const rule = rules?.[kind] || { enabled: true, after_s: seconds };
      const after = h("input", { type: "number", min: "0", max: "3600", step: "1",
        inputmode: "numeric", value: String(rule.after_s), disabled: FIXED.has(kind),
        testid: `monitoring-${kind}-after` });
      const on = checkField({ key: `monitoring.${kind}.enabled`,
        label: `console.monitoring.kind.${kind}`, checked: rule.enabled,
        testid: `monitoring-${kind}-on` });
      const wait = field({ key: `monitoring.${kind}.after_s`, label: "console.monitoring.after",
        control: after, unit: "console.unit.seconds",
        hint: FIXED.has(kind) ? "console.monitoring.fixed" : null });
      return { kind, box: on.querySelector("input"), after, els: [on, wait] };
    });
    this.el = h("section", { class: "panel", testid: "monitoring" },
      h("h2", { i18n: "console.monitoring.title" }),
      h("p", { class: "field-hint", i18n: "console.monitoring.hint" }),
      h("div", { class: "grid" }, ...this.rows.flatMap((row) => row.els)));
  }

  /** The ``monitoring`` object to send; a number the server will judge goes as typed. */
  read() {
    const out = {};
    for (const { kind, box, after } of this.rows) {
      const rule = { enabled: box.checked };
      if (!FIXED.has(kind)) {
        const text = after.value.trim();
        rule.after_s = text === "" ? undefined : Number(text);
      }
      out[kind] = rule;
    }
    return out;
  }
}
