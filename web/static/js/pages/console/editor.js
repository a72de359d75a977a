// Create or edit an exam (POST /api/admin/exams, POST /api/admin/exams/{id}): its
// texts, its window (local time in the inputs, Unix seconds to the server), and its
// questions (pages/console/question.js). The server checks everything at once; its
// problems are shown by their fields and listed above the form.
//
// Once a candidate has started the exam only the title, instructions and time
// requirements may change: the page says so and locks the rest (the server answers
// 409 to a change anyway, e.g. when a candidate started after the page was loaded).

import { ApiError, api } from "../../lib/api.js";
import { t, translatePage } from "../../lib/i18n.js";
import {
  fromLocalInput, handleSessionEnd, messageArea, toLocalInput,
} from "../../lib/staff-page.js";
import { clearFieldErrors, field, problemSummary, showFieldErrors } from "./fields.js";
import { NEW_OFFLINE, NEW_ONLINE, QuestionCard } from "./question.js";
import { MonitoringSection, monitoringLabel } from "./monitoring.js";
import { RetakeSection, retakeLabel } from "./retake.js";
import { MediaSection, mediaLabel } from "./media.js";
import { h } from "../../lib/dom.js";
import { errorText } from "../../lib/errors.js";

const EXAM_LABELS = {
  title: "console.exam.title", opens_at: "console.exam.opensAt",
  closes_at: "console.exam.closesAt", upload_grace_s: "console.exam.grace",
  instructions: "console.exam.instructions", time_requirements: "console.exam.timeRequirements",
  questions: "console.editor.questions",
};
const QUESTION_LABELS = {
  title: "console.q.title", prompt: "console.q.prompt", mode: "console.q.mode",
  id: "console.q.id", order: "console.q.order", reading_limit_s: "console.q.reading",
  recording_limit_s: "console.q.recording", submission_limit_s: "console.q.submission",
  rehearsal_allowed: "console.q.rehearsal", rehearsal_count: "console.q.rehearsalCount",
  formal_count: "console.q.formalCount", second_camera_required: "console.q.secondCamera",
  formal_playback_allowed: "console.q.playback", auto_submit: "console.q.autoSubmit",
  materials: "console.q.materials", files: "console.q.offlineSettings",
  "files.kinds": "console.q.fileKinds", "files.formats": "console.q.fileFormats",
  "files.min_count": "console.q.minCount", "files.max_count": "console.q.maxCount",
  "files.min_bytes": "console.q.minSize", "files.max_bytes": "console.q.maxSize",
};
const MATERIAL_LABELS = {
  kind: "console.m.kind", label: "console.m.label", required: "console.m.required",
  max_count: "console.m.maxCount", max_bytes: "console.m.maxSize",
  max_chars: "console.m.maxChars", formats: "console.m.formats", key: "console.m.key",
};
const CHANGED = {
  opens_at: "console.exam.opensAt", closes_at: "console.exam.closesAt",
  upload_grace_s: "console.exam.grace", questions: "console.editor.questions",
};

/** "第 1 题 · 材料 2 · 格式" for a problem's path. */
function labelOf(path) {
  const m = /^questions\[(\d+)\](?:\.materials\[(\d+)\])?(?:\.(.+))?$/.exec(path);
  const leaf = (text) => (text || "").replace(/\[\d+\]$/, "");
  const watched = monitoringLabel(path);
  if (watched) return watched.map((key) => t(key)).join(" · ");
  const retake = retakeLabel(path);
  if (retake) return retake.map((key) => t(key)).join(" · ");
  const media = mediaLabel(path);
  if (media) return media.map((key) => t(key)).join(" · ");
  if (!m) return EXAM_LABELS[leaf(path)] ? t(EXAM_LABELS[leaf(path)]) : "";
  const parts = [t("console.editor.questionN", { n: Number(m[1]) + 1 })];
  if (m[2] !== undefined) parts.push(t("console.m.materialN", { n: Number(m[2]) + 1 }));
  const labels = m[2] !== undefined ? MATERIAL_LABELS : QUESTION_LABELS;
  if (m[3] && labels[leaf(m[3])]) parts.push(t(labels[leaf(m[3])]));
  return parts.join(" · ");
}

function timeInput(unix, testid) {
  const value = toLocalInput(unix);
  return h("input", { type: "datetime-local", value, testid,
    dataset: { unix: unix ?? "", shown: value } });
}

/** Unix seconds of a time input; the server's own value while the input is unchanged. */
function readTime(input) {
  if (input.value && input.value === input.dataset.shown && input.dataset.unix !== "") {
    return Number(input.dataset.unix);
  }
  return fromLocalInput(input.value) ?? undefined;
}

function timeZone() {
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const abs = Math.abs(minutes);
  return `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60)
    .padStart(2, "0")}`;
}

export class ExamEditor {
  /** ``ctx``: the console ({go, flash}); ``exam``: the server's exam, or null for a new one;
   * ``started``: candidates have started it. */
  constructor(ctx, exam, started) {
    this.ctx = ctx;
    this.exam = exam;
    this.started = started;
    this.dirty = false;
    this.busy = false;
    this.problems = null; // {fields, summary} of the last refusal, shown again on a switch
    this.build();
  }

  build() {
    const e = this.exam || {};
    this.message = messageArea("editor-notice");
    this.lockNote = messageArea("editor-locked");
    this.summary = h("div", { testid: "problems-box" });
    this.title = h("input", { type: "text", maxlength: "200", value: e.title || "",
      testid: "exam-title" });
    this.opens = timeInput(e.opens_at, "exam-opens");
    this.closes = timeInput(e.closes_at, "exam-closes");
    this.grace = h("input", { type: "number", min: "0", step: "1", inputmode: "numeric",
      testid: "exam-grace", value: String(Math.round((e.upload_grace_s ?? 7200) / 60)),
      dataset: { seconds: e.upload_grace_s ?? 7200 } });
    this.timeRequirements = h("textarea", { rows: "2", maxlength: "2000",
      testid: "exam-time-requirements" });
    this.timeRequirements.value = e.time_requirements || "";
    this.instructions = h("textarea", { rows: "4", maxlength: "10000",
      testid: "exam-instructions" });
    this.instructions.value = e.instructions || "";
    this.zone = h("p", { class: "field-hint wide" });

    this.cards = [];
    this.list = h("div", { class: "question-list", testid: "questions" });
    this.addButtons = h("div", { class: "add-row" },
      h("button", { type: "button", class: "secondary", testid: "add-online",
        i18n: "console.btn.addOnline", onclick: () => this.add(NEW_ONLINE) }),
      h("button", { type: "button", class: "secondary", testid: "add-offline",
        i18n: "console.btn.addOffline", onclick: () => this.add(NEW_OFFLINE) }));
    this.noQuestions = h("p", { class: "empty", i18n: "console.editor.noQuestions" });
    this.monitoring = new MonitoringSection(e.monitoring);
    this.retake = new RetakeSection(e.retake);
    this.media = new MediaSection(e.media);
    this.saveButton = h("button", { type: "submit", class: "primary", testid: "save",
      i18n: this.exam ? "console.btn.save" : "console.btn.create" });
    this.revert = h("button", { type: "button", class: "secondary", testid: "revert",
      i18n: "console.btn.revert", hidden: !this.exam, onclick: () => this.ctx.reload() });

    this.form = h("form", { class: "editor", novalidate: true, testid: "exam-form",
      onsubmit: (event) => {
        event.preventDefault();
        this.save();
      } },
    h("div", { class: "save-bar" }, this.saveButton, this.revert,
      h("span", { class: "save-state", testid: "save-state" })),
    this.lockNote.el, this.message.el, this.summary,
    h("section", { class: "panel" },
      h("h2", { i18n: "console.editor.basics" }),
      h("div", { class: "grid" },
        field({ key: "title", label: "console.exam.title", control: this.title, wide: true }),
        field({ key: "opens_at", label: "console.exam.opensAt", control: this.opens }),
        field({ key: "closes_at", label: "console.exam.closesAt", control: this.closes,
          hint: "console.exam.closesHint" }),
        this.zone,
        field({ key: "upload_grace_s", label: "console.exam.grace", control: this.grace,
          unit: "console.unit.minutes", hint: "console.exam.graceHint" }),
        field({ key: "time_requirements", label: "console.exam.timeRequirements",
          control: this.timeRequirements, wide: true, hint: "console.exam.timeRequirementsHint" }),
        field({ key: "instructions", label: "console.exam.instructions",
          control: this.instructions, wide: true, hint: "console.exam.instructionsHint" }))),
    h("section", { class: "panel" },
      h("h2", { i18n: "console.editor.questions" }),
      h("p", { class: "field-hint", i18n: "console.editor.questionsHint" }),
      this.noQuestions, this.list, this.addButtons),
    this.media.el, this.monitoring.el, this.retake.el);
    this.saveState = this.form.querySelector("[data-testid=save-state]");
    this.form.addEventListener("input", () => this.changed());
    this.form.addEventListener("change", () => this.changed());

    for (const q of e.questions || []) this.add(q, false);
    if (!this.exam) this.add(NEW_ONLINE, false);
    this.dirty = false;
    this.lock(this.started);
    this.render();
  }

  get el() {
    return this.form;
  }

  changed() {
    this.dirty = true;
    this.saveState.textContent = t("console.editor.unsaved");
  }

  add(q, focus = true) {
    const card = new QuestionCard(q, {
      remove: (gone) => {
        this.cards = this.cards.filter((c) => c !== gone);
        gone.el.remove();
        this.changed();
        this.render();
      },
      move: (card, by) => {
        const i = this.cards.indexOf(card);
        const j = i + by;
        if (j < 0 || j >= this.cards.length) return;
        [this.cards[i], this.cards[j]] = [this.cards[j], this.cards[i]];
        this.list.replaceChildren(...this.cards.map((c) => c.el));
        this.changed();
        this.render();
        card.el.scrollIntoView({ block: "nearest" });
      },
      changed: () => this.changed(),
    });
    this.cards.push(card);
    this.list.append(card.el);
    if (this.locked) card.lock(true);
    if (focus) {
      this.changed();
      card.title.focus();
    }
    this.render();
  }

  lock(locked) {
    this.locked = locked;
    for (const input of [this.opens, this.closes, this.grace]) input.disabled = locked;
    for (const card of this.cards) card.lock(locked);
    this.media.lock(locked);
    this.addButtons.hidden = locked;
    if (locked) this.lockNote.show("warning", () => t("console.editor.locked"));
    else this.lockNote.clear();
  }

  /** Everything that depends on the language or the order of the questions. */
  render() {
    this.cards.forEach((card, i) => card.place(i, this.cards.length));
    this.noQuestions.hidden = this.cards.length > 0;
    this.zone.textContent = t("console.exam.zone", { zone: timeZone() });
    for (const echo of this.form.querySelectorAll(".echo")) echo.update?.();
    this.message.render();
    this.lockNote.render();
    this.saveButton.disabled = this.busy;
    if (this.problems) this.showProblems(this.problems.fields, this.problems.problems);
    else {
      clearFieldErrors(this.form);
      this.summary.replaceChildren();
    }
  }

  /** The exam's JSON from the inputs; fields registered by path, local problems noted. */
  read(fields, local) {
    for (const f of this.form.querySelectorAll(".panel > .grid > .field[data-field]")) {
      fields.set(f.dataset.field, f);
    }
    const minutes = this.grace.value.trim();
    const graceSeconds = minutes === String(Math.round(Number(this.grace.dataset.seconds) / 60))
      ? Number(this.grace.dataset.seconds) : Math.round(Number(minutes) * 60);
    const body = {
      title: this.title.value.trim(),
      instructions: this.instructions.value.trim(),
      time_requirements: this.timeRequirements.value.trim(),
      opens_at: readTime(this.opens),
      closes_at: readTime(this.closes),
      upload_grace_s: minutes === "" ? undefined : graceSeconds,
      monitoring: this.monitoring.read(),
      retake: this.retake.read(),
      media: this.media.read(),
    };
    const ids = new Set(this.cards.map((c) => c.id).filter(Boolean));
    body.questions = this.cards.map((card, i) => card.read(`questions[${i}]`, i + 1, fields,
      local, ids));
    if (this.locked && this.exam) {
      // Only the texts can change: the rest goes back exactly as the server has it.
      const { id, unit_id: unit, ...kept } = this.exam;
      return { ...kept, title: body.title, instructions: body.instructions,
        time_requirements: body.time_requirements, monitoring: body.monitoring };
    }
    return body;
  }

  showProblems(fields, problems) {
    clearFieldErrors(this.form);
    const items = showFieldErrors(fields, problems, labelOf);
    this.summary.replaceChildren(problemSummary(items));
  }

  async save() {
    if (this.busy) return;
    this.problems = null;
    this.message.clear();
    const fields = new Map();
    const local = {};
    const body = this.read(fields, local);
    if (Object.keys(local).length) {
      this.problems = { fields, problems: local }; // catalogue keys, not the server's words
      this.render();
      this.focusFirstProblem();
      return;
    }
    this.busy = true;
    this.render();
    this.saveState.textContent = t("console.editor.saving");
    let saved;
    try {
      saved = this.exam
        ? await api("POST", `/api/admin/exams/${encodeURIComponent(this.exam.id)}`, body)
        : await api("POST", "/api/admin/exams", body);
    } catch (err) {
      this.busy = false;
      this.saveState.textContent = t("console.editor.unsaved");
      this.refused(err, fields);
      return;
    }
    this.busy = false;
    this.dirty = false;
    if (!this.exam) {
      this.ctx.flash = { kind: "ok", key: "console.editor.created" };
      this.ctx.go(`#exams/${encodeURIComponent(saved.id)}`);
      return;
    }
    this.exam = saved;
    this.ctx.examSaved?.(saved);
    this.message.show("ok", () => t("console.editor.saved"));
    this.saveState.textContent = "";
    this.render();
    this.message.el.scrollIntoView({ block: "nearest" });
  }

  refused(err, fields) {
    if (handleSessionEnd(err)) return;
    if (err instanceof ApiError && err.code === "invalid_input" && err.details.fields) {
      this.problems = { fields, problems: err.details.fields };
      this.render();
      this.focusFirstProblem();
      return;
    }
    if (err instanceof ApiError && err.status === 409) {
      this.conflict(err.details.changed || []);
      return;
    }
    this.message.show("error", () => errorText(err, "console"));
    this.render();
    this.message.el.scrollIntoView({ block: "nearest" });
  }

  /** Candidates started meanwhile: the saved settings come back, locked; the texts typed
   * stay, to be saved again. */
  async conflict(changedNames) {
    const changed = changedNames.map((name) => t(CHANGED[name] || name));
    const texts = [this.title.value, this.instructions.value, this.timeRequirements.value];
    try {
      this.exam = await api("GET", `/api/admin/exams/${encodeURIComponent(this.exam.id)}`);
    } catch (err) {
      if (handleSessionEnd(err)) return;
    }
    this.started = true;
    const old = this.form;
    this.build();
    old.replaceWith(this.form);
    [this.title.value, this.instructions.value, this.timeRequirements.value] = texts;
    this.dirty = texts.join() !== [this.exam.title, this.exam.instructions,
      this.exam.time_requirements].join();
    this.message.show("error", () => t("console.editor.conflict", {
      changed: changed.join(t("console.list.sep")) || t("console.editor.questions") }));
    this.render();
    this.message.el.scrollIntoView({ block: "nearest" });
  }

  focusFirstProblem() {
    const first = this.form.querySelector(".has-error input:not([disabled]), "
      + ".has-error select, .has-error textarea") || this.summary;
    this.summary.scrollIntoView({ block: "start" });
    first.focus?.({ preventScroll: true });
  }

  /** Leaving with unsaved changes asks first. */
  leave() {
    return !this.dirty || window.confirm(t("console.editor.leave"));
  }

  onLang() {
    translatePage(this.form);
    this.render();
  }
}

/** Mount the editor of ``exam`` (null: a new exam) in ``root``. */
export async function mountEditor(ctx, root, exam) {
  let started = false;
  if (exam) {
    const progress = await api("GET", `/api/admin/exams/${encodeURIComponent(exam.id)}/progress`);
    started = progress.candidates.length > 0;
  }
  const editor = new ExamEditor(ctx, exam, started);
  root.replaceChildren(editor.el);
  if (ctx.flash) {
    const { kind, key } = ctx.flash;
    editor.message.show(kind, () => t(key));
    ctx.flash = null;
  }
  if (!exam) editor.title.focus();
  return editor;
}
