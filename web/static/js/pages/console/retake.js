// The exam editor's "retakes for system faults" section (issue #18): what counts as a
// formal take damaged by the system (lost seconds, seconds below 15 fps, no sound), which
// grants the candidate one more formal take, and how many extra takes a question may get
// (exam.retake, checked by the server: exams/catalog/take_quality.py). Like the questions,
// it is fixed once candidates started: every candidate gets the same rule.

import { h } from "../../lib/dom.js";
import { checkField, field } from "./fields.js";

export const DEFAULTS = { enabled: true, lost_over_s: 2, low_fps_over_s: 5,
  audio_missing: true, max_extra: 2 };
const LABELS = {
  enabled: "exam.retake.enabled", lost_over_s: "exam.retake.lostOver",
  low_fps_over_s: "exam.retake.lowFpsOver", audio_missing: "exam.retake.audioMissing",
  max_extra: "exam.retake.maxExtra",
};

/** The label keys of a problem's path ``retake.<field>``, or null. */
export function retakeLabel(path) {
  const m = /^retake(?:\.([a-z_]+))?$/.exec(path);
  if (!m) return null;
  return ["exam.retake.settings", ...(m[1] && LABELS[m[1]] ? [LABELS[m[1]]] : [])];
}

function number(value, max, step, testid) {
  return h("input", { type: "number", min: "0", max: String(max), step, inputmode: "decimal",
    value: String(value), testid });
}

export class RetakeSection {
  /** ``rule``: the exam's ``retake`` ({enabled, lost_over_s, ...}), or undefined. */
  constructor(rule) {
    const r = { ...DEFAULTS, ...(rule || {}) };
    this.on = checkField({ key: "retake.enabled", label: LABELS.enabled, checked: r.enabled,
      testid: "retake-on" });
    this.audio = checkField({ key: "retake.audio_missing", label: LABELS.audio_missing,
      checked: r.audio_missing, testid: "retake-audio" });
    this.lost = number(r.lost_over_s, 3600, "0.5", "retake-lost");
    this.lowFps = number(r.low_fps_over_s, 3600, "0.5", "retake-low-fps");
    this.extra = number(r.max_extra, 10, "1", "retake-max-extra");
    this.el = h("section", { class: "panel", testid: "retake" },
      h("h2", { i18n: "exam.retake.settings" }),
      h("div", { class: "grid" }, this.on,
        field({ key: "retake.lost_over_s", label: LABELS.lost_over_s, control: this.lost,
          unit: "console.unit.seconds" }),
        field({ key: "retake.low_fps_over_s", label: LABELS.low_fps_over_s,
          control: this.lowFps, unit: "console.unit.seconds" }),
        this.audio,
        field({ key: "retake.max_extra", label: LABELS.max_extra, control: this.extra })));
  }

  /** The ``retake`` object to send; a number the server will judge goes as typed. */
  read() {
    const num = (input) => (input.value.trim() === "" ? undefined : Number(input.value));
    return {
      enabled: this.on.querySelector("input").checked,
      lost_over_s: num(this.lost),
      low_fps_over_s: num(this.lowFps),
      audio_missing: this.audio.querySelector("input").checked,
      max_extra: num(this.extra),
    };
  }
}
