// One question of the exam editor with every setting of the manual (M3.2, M3.6):
// online (在线录制: reading, recording and submission limits, rehearsals, formal
// recordings, second camera, playback, auto-submit, extra materials) or offline (线下录制:
// file kinds, formats, count and size limits, submission limit).
//
// The card keeps no copy of the settings: read() builds the question's JSON from the
// inputs and registers each field under its path (questions[0].materials[1].max_bytes)
// for the server's problems.

import { t } from "../../lib/i18n.js";
import { MB, fmtDuration, trimNumber } from "../../lib/staff-page.js";
import { checkField, field } from "./fields.js";
import { h } from "../../lib/dom.js";

export const MATERIAL_KINDS = ["video", "audio", "image", "text"];
export const FILE_KINDS = ["video", "audio", "image", "text", "pdf"];

// What a new material or offline question starts with (the admin changes what differs).
const MATERIAL_DEFAULTS = {
  video: { formats: ["mp4", "mov", "webm"], max_bytes: 200 * MB, max_count: 1 },
  audio: { formats: ["mp3", "m4a", "wav"], max_bytes: 50 * MB, max_count: 1 },
  image: { formats: ["jpg", "png"], max_bytes: 10 * MB, max_count: 1 },
  text: { max_chars: 1000 },
};
export const NEW_ONLINE = {
  mode: "online", title: "", prompt: "", reading_limit_s: 60, recording_limit_s: 180,
  submission_limit_s: null, rehearsal_allowed: false, rehearsal_count: 0, formal_count: 1,
  second_camera_required: false, formal_playback_allowed: true, auto_submit: false,
  materials: [],
};
export const NEW_OFFLINE = {
  mode: "offline", title: "", prompt: "", submission_limit_s: null,
  files: { kinds: ["video"], formats: ["mp4", "mov"], min_count: 1, max_count: 1, min_bytes: 0,
    max_bytes: 500 * MB },
};

let serial = 0;
const uid = () => `q${++serial}`;

// -- inputs ----------------------------------------------------------------------------------

function numberInput(value, testid, { min = 0, step = "1" } = {}) {
  return h("input", { type: "number", inputmode: "numeric", min, step, testid,
    value: value === null || value === undefined ? "" : String(value) });
}

/** A size in MB; what the server sent is kept exactly while the shown value is unchanged. */
function sizeInput(bytes, testid) {
  const shown = bytes === null || bytes === undefined ? "" : trimNumber(bytes / MB);
  return h("input", { type: "number", inputmode: "decimal", min: "0", step: "any", testid,
    value: shown, dataset: { bytes: bytes ?? "", shown } });
}

function readNumber(input) {
  const text = input.value.trim();
  return text === "" ? undefined : Number(text);
}

function readBytes(input) {
  const text = input.value.trim();
  if (text === "") return undefined;
  const unchanged = text === input.dataset.shown && input.dataset.bytes !== "";
  if (unchanged) return Number(input.dataset.bytes);
  return Math.round(Number(text) * MB);
}

const readFormats = (input) => input.value.split(/[\s,，;；、]+/).map((f) => f.trim())
  .filter(Boolean);

/** "= 3 min" beside a seconds input, kept up to date. */
function durationEcho(input) {
  const echo = h("span", { class: "echo" });
  const update = () => {
    const n = readNumber(input);
    echo.textContent = n > 0 && !input.disabled ? `= ${fmtDuration(n)}` : "";
  };
  input.addEventListener("input", update);
  echo.update = update;
  update();
  return echo;
}

/** A seconds field with a checkbox meaning "no limit" (the value null). */
function limitField({ key, label, value, noneLabel, testid, hint }) {
  const input = numberInput(value ?? "", testid, { min: 1 });
  const none = h("input", { type: "checkbox", checked: value === null, testid: `${testid}-none` });
  const echo = durationEcho(input);
  const sync = () => {
    input.disabled = none.checked || none.disabled;
    echo.update();
  };
  none.addEventListener("change", () => {
    sync();
    if (!none.checked) input.focus();
  });
  const el = field({ key, label, control: input, unit: "console.unit.seconds", hint,
    extra: [echo, h("label", { class: "check-label inline-check" }, none,
      h("span", { i18n: noneLabel }))] });
  sync();
  return {
    el,
    sync,
    read: () => (none.checked ? null : readNumber(input)),
    empty: () => !none.checked && input.value.trim() === "",
  };
}

// -- a material of an online question -------------------------------------------------------

class MaterialRow {
  constructor(m, onRemove) {
    this.key = m.key || null; // kept as the server knows it; new ones get one when read
    const kind = m.kind || "image";
    const defaults = MATERIAL_DEFAULTS[kind];
    this.kind = h("select", { testid: "m-kind" }, MATERIAL_KINDS.map((k) =>
      h("option", { value: k, selected: k === kind, i18n: `console.kind.${k}` })));
    this.label = h("input", { type: "text", maxlength: "200", value: m.label || "",
      testid: "m-label" });
    this.required = checkField({ key: "required", label: "console.m.required",
      checked: m.required ?? true, testid: "m-required" });
    this.maxCount = numberInput(m.max_count ?? defaults.max_count ?? 1, "m-max-count", { min: 1 });
    this.maxBytes = sizeInput(m.max_bytes ?? defaults.max_bytes, "m-max-mb");
    const formats = m.formats || defaults.formats || [];
    this.formats = h("input", { type: "text", value: formats.join(", "),
      testid: "m-formats", autocapitalize: "off", spellcheck: "false" });
    this.maxChars = numberInput(m.max_chars ?? defaults.max_chars ?? 1000, "m-max-chars",
      { min: 1 });
    this.fileFields = [
      field({ key: "max_count", label: "console.m.maxCount", control: this.maxCount }),
      field({ key: "max_bytes", label: "console.m.maxSize", control: this.maxBytes,
        unit: "console.unit.mb" }),
      field({ key: "formats", label: "console.m.formats", control: this.formats,
        hint: "console.m.formatsHint", wide: true }),
    ];
    this.textFields = [field({ key: "max_chars", label: "console.m.maxChars",
      control: this.maxChars, unit: "console.unit.chars" })];
    this.removeButton = h("button", { type: "button", class: "secondary small",
      i18n: "console.btn.remove", testid: "m-remove", onclick: () => onRemove(this) });
    this.el = h("div", { class: "material", testid: "material" },
      h("div", { class: "material-grid" },
        field({ key: "kind", label: "console.m.kind", control: this.kind }),
        field({ key: "label", label: "console.m.label", control: this.label,
          hint: "console.m.labelHint" }),
        this.required,
        this.fileFields, this.textFields),
      h("div", { class: "row-tools" }, this.removeButton),
      h("p", { class: "field-error", testid: "field-error", hidden: true }));
    this.lastKind = kind;
    this.kind.addEventListener("change", () => this.kindChanged());
    this.showKind();
  }

  kindChanged() {
    const kind = this.kind.value;
    const before = MATERIAL_DEFAULTS[this.lastKind];
    const now = MATERIAL_DEFAULTS[kind];
    // Untouched defaults follow the kind; what the admin typed stays.
    if (before.formats && now.formats && this.formats.value === before.formats.join(", ")) {
      this.formats.value = now.formats.join(", ");
    }
    if (before.max_bytes && now.max_bytes && readBytes(this.maxBytes) === before.max_bytes) {
      this.maxBytes.value = trimNumber(now.max_bytes / MB);
    }
    this.lastKind = kind;
    this.showKind();
  }

  showKind() {
    const text = this.kind.value === "text";
    for (const f of this.fileFields) f.hidden = text;
    for (const f of this.textFields) f.hidden = !text;
  }

  read(prefix, fields, keys) {
    fields.set(prefix, this.el);
    for (const f of this.el.querySelectorAll(".field[data-field]")) {
      if (!f.hidden) fields.set(`${prefix}.${f.dataset.field}`, f);
    }
    const kind = this.kind.value;
    // Each material needs its own key: the one it has, else the kind, kind_2, kind_3 ...
    let key = this.key && keys.get(this.key) === this ? this.key : kind;
    for (let n = 2; keys.has(key) && keys.get(key) !== this; n += 1) key = `${kind}_${n}`;
    keys.set(key, this);
    const out = { key, kind, label: this.label.value.trim(),
      required: this.required.querySelector("input").checked };
    if (kind === "text") out.max_chars = readNumber(this.maxChars);
    else {
      out.max_count = readNumber(this.maxCount);
      out.max_bytes = readBytes(this.maxBytes);
      out.formats = readFormats(this.formats);
    }
    return out;
  }
}

// -- the question card -------------------------------------------------------------------------

export class QuestionCard {
  /** ``q``: a question as the server describes it (or NEW_ONLINE / NEW_OFFLINE);
   * ``on``: {remove(card), move(card, by)}. */
  constructor(q, on) {
    this.on = on;
    this.id = q.id || null;
    this.name = uid();
    const online = q.mode === "offline" ? NEW_ONLINE : q;
    const offline = q.mode === "offline" ? q : NEW_OFFLINE;
    this.heading = h("h3", {});
    this.idLabel = h("span", { class: "q-id" });
    this.up = h("button", { type: "button", class: "secondary small", i18n: "console.btn.up",
      testid: "q-up", onclick: () => on.move(this, -1) });
    this.down = h("button", { type: "button", class: "secondary small", i18n: "console.btn.down",
      testid: "q-down", onclick: () => on.move(this, 1) });
    this.remove = h("button", { type: "button", class: "secondary small danger",
      i18n: "console.btn.removeQuestion", testid: "q-remove", onclick: () => on.remove(this) });

    this.title = h("input", { type: "text", maxlength: "200", value: q.title || "",
      testid: "q-title" });
    this.prompt = h("textarea", { rows: "2", maxlength: "10000", testid: "q-prompt" });
    this.prompt.value = q.prompt || "";
    this.modes = ["online", "offline"].map((mode) => h("input", { type: "radio", name: this.name,
      value: mode, checked: (q.mode || "online") === mode, testid: `q-mode-${mode}`,
      onchange: () => this.showMode() }));
    const modeControl = h("div", { class: "segmented", role: "radiogroup" },
      this.modes.map((input) => h("label", {}, input,
        h("span", { i18n: `console.mode.${input.value}` }))));

    this.online = this.buildOnline(online);
    this.offline = this.buildOffline(offline);
    this.el = h("section", { class: "question-card", testid: "question" },
      h("header", { class: "q-head" }, this.heading, this.idLabel,
        h("div", { class: "q-tools" }, this.up, this.down, this.remove)),
      h("p", { class: "field-error", testid: "field-error", hidden: true }),
      h("div", { class: "grid" },
        field({ key: "title", label: "console.q.title", control: this.title, wide: true }),
        h("div", { class: "field wide", dataset: { field: "mode" } },
          h("span", { class: "label", i18n: "console.q.mode" }), modeControl,
          h("p", { class: "field-error", testid: "field-error", hidden: true })),
        field({ key: "prompt", label: "console.q.prompt", control: this.prompt, wide: true,
          hint: "console.q.promptHint" })),
      this.online.el, this.offline.el);
    this.showMode();
  }

  get mode() {
    return this.modes.find((m) => m.checked)?.value || "online";
  }

  buildOnline(q) {
    const o = {};
    o.reading = limitField({ key: "reading_limit_s", label: "console.q.reading",
      value: q.reading_limit_s, noneLabel: "console.q.readingNone", testid: "q-reading",
      hint: "console.q.readingHint" });
    o.recording = numberInput(q.recording_limit_s, "q-recording", { min: 1 });
    o.submission = limitField({ key: "submission_limit_s", label: "console.q.submission",
      value: q.submission_limit_s, noneLabel: "console.q.submissionNone", testid: "q-submission",
      hint: "console.q.submissionHint" });
    o.formalCount = numberInput(q.formal_count ?? 1, "q-formal-count", { min: 1 });
    o.rehearsalCount = numberInput(q.rehearsal_allowed ? q.rehearsal_count : 1,
      "q-rehearsal-count", { min: 1 });
    o.rehearsalAllowed = checkField({ key: "rehearsal_allowed", label: "console.q.rehearsal",
      checked: q.rehearsal_allowed, testid: "q-rehearsal", hint: "console.q.rehearsalHint",
      onchange: () => this.syncRehearsal() });
    o.rehearsalField = field({ key: "rehearsal_count", label: "console.q.rehearsalCount",
      control: o.rehearsalCount, unit: "console.unit.times" });
    o.checks = {
      second_camera_required: checkField({ key: "second_camera_required",
        label: "console.q.secondCamera", checked: q.second_camera_required,
        testid: "q-second-camera", hint: "console.q.secondCameraHint" }),
      formal_playback_allowed: checkField({ key: "formal_playback_allowed",
        label: "console.q.playback", checked: q.formal_playback_allowed, testid: "q-playback",
        hint: "console.q.playbackHint" }),
      auto_submit: checkField({ key: "auto_submit", label: "console.q.autoSubmit",
        checked: q.auto_submit, testid: "q-auto-submit", hint: "console.q.autoSubmitHint" }),
    };
    o.materials = [];
    o.materialList = h("div", { class: "materials" });
    const add = h("button", { type: "button", class: "secondary small", testid: "q-add-material",
      i18n: "console.btn.addMaterial", onclick: () => this.addMaterial({ kind: "image" }, true) });
    o.materialsField = h("div", { class: "field wide", dataset: { field: "materials" } },
      h("span", { class: "label", i18n: "console.q.materials" }),
      h("p", { class: "field-hint", i18n: "console.q.materialsHint" }),
      h("p", { class: "field-error", testid: "field-error", hidden: true }),
      o.materialList, h("div", {}, add));
    o.el = h("fieldset", { class: "settings online", testid: "online-settings" },
      h("legend", { i18n: "console.q.onlineSettings" }),
      h("div", { class: "grid" },
        o.reading.el,
        field({ key: "recording_limit_s", label: "console.q.recording", control: o.recording,
          unit: "console.unit.seconds", hint: "console.q.recordingHint",
          extra: durationEcho(o.recording) }),
        o.submission.el,
        field({ key: "formal_count", label: "console.q.formalCount", control: o.formalCount,
          unit: "console.unit.times", hint: "console.q.formalCountHint" }),
        o.rehearsalAllowed, o.rehearsalField,
        Object.values(o.checks),
        o.materialsField));
    this.o = o;
    for (const m of q.materials || []) this.addMaterial(m, false);
    this.syncRehearsal();
    return o;
  }

  buildOffline(q) {
    const f = q.files || NEW_OFFLINE.files;
    const o = {};
    o.kinds = FILE_KINDS.map((kind) => h("input", { type: "checkbox", value: kind,
      checked: f.kinds.includes(kind), testid: `q-kind-${kind}` }));
    o.formats = h("input", { type: "text", value: f.formats.join(", "), testid: "q-formats",
      autocapitalize: "off", spellcheck: "false" });
    o.minCount = numberInput(f.min_count, "q-min-count", { min: 1 });
    o.maxCount = numberInput(f.max_count, "q-max-count", { min: 1 });
    o.minBytes = sizeInput(f.min_bytes, "q-min-mb");
    o.maxBytes = sizeInput(f.max_bytes, "q-max-mb");
    o.submission = limitField({ key: "submission_limit_s", label: "console.q.submission",
      value: q.submission_limit_s, noneLabel: "console.q.submissionNone",
      testid: "q-offline-submission", hint: "console.q.offlineSubmissionHint" });
    o.el = h("fieldset", { class: "settings offline", testid: "offline-settings" },
      h("legend", { i18n: "console.q.offlineSettings" }),
      h("div", { class: "grid", dataset: { field: "files" } },
        h("p", { class: "field-error wide", testid: "field-error", hidden: true }),
        h("div", { class: "field wide", dataset: { field: "files.kinds" } },
          h("span", { class: "label", i18n: "console.q.fileKinds" }),
          h("div", { class: "check-row" }, o.kinds.map((box) => h("label", { class: "check-label" },
            box, h("span", { i18n: `console.kind.${box.value}` })))),
          h("p", { class: "field-error", testid: "field-error", hidden: true })),
        field({ key: "files.formats", label: "console.q.fileFormats", control: o.formats,
          hint: "console.q.fileFormatsHint", wide: true }),
        field({ key: "files.min_count", label: "console.q.minCount", control: o.minCount,
          unit: "console.unit.files" }),
        field({ key: "files.max_count", label: "console.q.maxCount", control: o.maxCount,
          unit: "console.unit.files" }),
        field({ key: "files.min_bytes", label: "console.q.minSize", control: o.minBytes,
          unit: "console.unit.mb" }),
        field({ key: "files.max_bytes", label: "console.q.maxSize", control: o.maxBytes,
          unit: "console.unit.mb", hint: "console.q.maxSizeHint" }),
        o.submission.el));
    return o;
  }

  addMaterial(m, focus) {
    const row = new MaterialRow(m, (gone) => {
      this.o.materials = this.o.materials.filter((r) => r !== gone);
      gone.el.remove();
      this.on.changed?.();
    });
    this.o.materials.push(row);
    this.o.materialList.append(row.el);
    if (focus) {
      row.kind.focus();
      this.on.changed?.();
    }
  }

  syncRehearsal() {
    const allowed = this.o.rehearsalAllowed.querySelector("input").checked;
    this.o.rehearsalField.hidden = !allowed;
  }

  showMode() {
    const online = this.mode === "online";
    this.online.el.hidden = !online;
    this.offline.el.hidden = online;
    this.el.dataset.mode = this.mode;
  }

  /** Heading and arrows for the card's place (``i`` from 0) among ``count``. */
  place(i, count) {
    this.heading.textContent = t("console.editor.questionN", { n: i + 1 });
    this.idLabel.textContent = this.id ? t("console.editor.questionId", { id: this.id }) : "";
    this.up.disabled = this.locked || i === 0;
    this.down.disabled = this.locked || i === count - 1;
  }

  /** Only texts may change once candidates started: everything else is read-only. */
  lock(locked) {
    this.locked = locked;
    for (const el of this.el.querySelectorAll("input, select, textarea, button")) {
      el.disabled = locked;
    }
    this.remove.hidden = locked;
    for (const button of this.el.querySelectorAll("[data-testid=m-remove],"
      + " [data-testid=q-add-material]")) button.hidden = locked;
    if (!locked) {
      this.online.reading.sync();
      this.online.submission.sync();
      this.offline.submission.sync();
    }
  }

  /** The question's JSON; registers its fields in ``fields`` under ``prefix``. Problems the
   * page can tell without the server (a limit neither set nor "no limit") go to ``local``. */
  read(prefix, order, fields, local, usedIds) {
    const register = (root) => {
      for (const f of root.querySelectorAll(".field[data-field], .grid[data-field]")) {
        if (!f.closest(".material")) fields.set(`${prefix}.${f.dataset.field}`, f);
      }
    };
    fields.set(prefix, this.el);
    register(this.el.querySelector(":scope > .grid"));
    if (!this.id) {
      let n = order;
      while (usedIds.has(`q${n}`)) n += 1;
      this.id = `q${n}`;
    }
    usedIds.add(this.id);
    const out = { id: this.id, title: this.title.value.trim(), order, mode: this.mode,
      prompt: this.prompt.value.trim() };
    if (this.mode === "online") {
      const o = this.online;
      register(o.el);
      for (const [limit, key] of [[o.reading, "reading_limit_s"],
        [o.submission, "submission_limit_s"]]) {
        if (limit.empty()) local[`${prefix}.${key}`] = "console.local.limitOrNone";
      }
      const allowed = o.rehearsalAllowed.querySelector("input").checked;
      Object.assign(out, {
        reading_limit_s: o.reading.read(),
        recording_limit_s: readNumber(o.recording),
        submission_limit_s: o.submission.read(),
        rehearsal_allowed: allowed,
        rehearsal_count: allowed ? readNumber(o.rehearsalCount) : 0,
        formal_count: readNumber(o.formalCount),
      });
      for (const [key, check] of Object.entries(o.checks)) {
        out[key] = check.querySelector("input").checked;
      }
      // Keys the server knows stay with their materials; new ones get free keys.
      const keys = new Map();
      for (const row of o.materials) if (row.key && !keys.has(row.key)) keys.set(row.key, row);
      out.materials = o.materials.map((row, j) => row.read(`${prefix}.materials[${j}]`, fields,
        keys));
    } else {
      const o = this.offline;
      register(o.el);
      if (o.submission.empty()) local[`${prefix}.submission_limit_s`] = "console.local.limitOrNone";
      out.submission_limit_s = o.submission.read();
      out.files = {
        kinds: o.kinds.filter((box) => box.checked).map((box) => box.value),
        formats: readFormats(o.formats),
        min_count: readNumber(o.minCount),
        max_count: readNumber(o.maxCount),
        min_bytes: readBytes(o.minBytes),
        max_bytes: readBytes(o.maxBytes),
      };
    }
    return out;
  }
}
