// A question's settings as a candidate must see them before starting (M3.2 for
// online questions, M3.6 for offline ones), and the labels shown beside its
// title: mode (在线录制 / 线下录制), 需二机位, and where the candidate is.

import { bytes, duration, list } from "./candidate-page.js";
import { t } from "./i18n.js";

function submissionLimit(s) {
  return s.submission_limit_s == null ? t("exam.set.untilExamEnds")
    : duration(s.submission_limit_s);
}

function fileCount(min, max) {
  return min === max ? t("exam.set.countExact", { n: max }) : t("exam.set.countRange", { min, max });
}

function formats(names) {
  return list(names.map((name) => name.toUpperCase()));
}

/** One extra material of an online answer, in words. */
export function materialText(m) {
  const name = m.label || t(`exam.kind.${m.kind}`);
  const need = t(m.required ? "exam.set.required" : "exam.set.optional");
  if (m.kind === "text") return t("exam.set.materialText", { name, need, chars: m.max_chars });
  return t("exam.set.materialFile", {
    name, need, count: m.max_count, formats: formats(m.formats), size: bytes(m.max_bytes),
  });
}

/** [key, value] rows: what the unit set for this question. */
export function settingRows(q) {
  const s = q.settings;
  if (q.mode === "offline") {
    const f = s.files;
    const size = f.min_bytes > 0
      ? t("exam.set.sizeRange", { min: bytes(f.min_bytes), max: bytes(f.max_bytes) })
      : t("exam.set.sizeMax", { max: bytes(f.max_bytes) });
    return [
      ["submission", submissionLimit(s)],
      ["fileKinds", list(f.kinds.map((k) => t(`exam.kind.${k}`)))],
      ["formats", formats(f.formats)],
      ["fileCount", fileCount(f.min_count, f.max_count)],
      ["fileSize", size],
    ];
  }
  const rows = [
    ["reading", s.reading_limit_s == null ? t("exam.set.unlimited") : duration(s.reading_limit_s)],
    ["recording", duration(s.recording_limit_s)],
    ["submission", submissionLimit(s)],
    ["rehearsal", s.rehearsal_allowed ? t("exam.set.rehearsals", { n: s.rehearsal_count })
      : t("exam.set.noRehearsal")],
    ["formalCount", t("exam.set.times", { n: s.formal_count })],
    ["secondCamera", t(s.second_camera_required ? "exam.set.secondYes" : "exam.set.secondNo")],
    ["playback", t(s.formal_playback_allowed ? "exam.set.playbackYes" : "exam.set.playbackNo")],
    ["autoSubmit", t(s.auto_submit ? "exam.set.autoYes" : "exam.set.autoNo")],
  ];
  if (s.materials.length) rows.push(["materials", s.materials.map(materialText).join("\n")]);
  return rows;
}

/** Fill a <dl> with the question's settings (each <dd> has data-setting="<key>"). */
export function renderSettings(dl, q) {
  dl.replaceChildren(...settingRows(q).flatMap(([key, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = t(`exam.set.${key}`);
    const dd = document.createElement("dd");
    dd.dataset.setting = key;
    dd.textContent = value;
    return [dt, dd];
  }));
}

function badge(text, kind, testid) {
  const span = document.createElement("span");
  span.className = "badge";
  span.dataset.kind = kind;
  if (testid) span.dataset.testid = testid;
  span.textContent = text;
  return span;
}

/** The labels beside a question's title: mode, 需二机位, auto-submit, and its phase. */
export function questionBadges(q, withPhase = true) {
  const out = [badge(t(`exam.mode.${q.mode}`), q.mode, "mode")];
  if (q.mode === "online" && q.settings.second_camera_required) {
    out.push(badge(t("exam.secondCamera"), "warning", "second-camera-badge"));
  }
  if (q.mode === "online" && q.settings.auto_submit) {
    out.push(badge(t("exam.autoSubmitBadge"), "info", "auto-submit-badge"));
  }
  if (withPhase) out.push(badge(phaseText(q), q.phase, "phase"));
  return out;
}

export function phaseText(q) {
  if (q.phase === "submitted" && q.attempt?.submitted_by === "auto") {
    return t("exam.phase.autoSubmitted");
  }
  return t(`exam.phase.${q.phase}`);
}
