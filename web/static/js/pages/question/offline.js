// 线下录制: an offline question, answered with files prepared beforehand.
//
// Opening the question (开始作答) starts its submission time. Then files are
// added (several at once, each with a progress bar, pause and resume), removed,
// saved as a draft (保存) and submitted (提交) between the question's minimum and
// maximum count — also while files are still uploading (M3.7): their uploads may
// complete until the exam's end plus two hours (the exam's upload_deadline). Files
// travel as resumable uploads: after a reload, the same file picked again goes on
// from where the server's copy ends (续传).
//
// States (<body data-state>): intro (not opened yet), files, submitted, closed.

import { api } from "../../lib/api.js";
import { FileBox, acceptOf } from "../../components/answer-files.js";
import { bytes, duration, list, remaining, shortTime } from "../../lib/candidate-page.js";
import { t } from "../../lib/i18n.js";
import { submitFilesText } from "./dialogs.js";
import { uploads } from "../../lib/upload-manager.js";
import { $ } from "../../lib/dom.js";

export class OfflineAnswer {
  constructor(ctx) {
    this.ctx = ctx;
    this.ui = {
      panel: $("offline"), message: $("offline-message"), open: $("open-question"),
      files: $("files"), input: $("file-input"), pick: $("add-files"), rules: $("file-rules"),
      uploads: $("upload-list"), count: $("file-count"), list: $("file-list"),
      savedAt: $("saved-at"), save: $("save-files"), submit: $("submit-files"),
    };
    // Lines of this module's own (the page's HTML is shared with the online answer).
    this.ui.grace = document.createElement("p");
    this.ui.grace.className = "upload-grace";
    this.ui.grace.dataset.testid = "upload-grace";
    this.ui.grace.hidden = true;
    this.ui.hint = document.createElement("p");
    this.ui.hint.className = "muted upload-hint";
    this.ui.hint.dataset.testid = "resume-hint";
    this.ui.hint.hidden = true;
    this.ui.list.after(this.ui.hint, this.ui.grace);
    this.box = new FileBox(this.ui.uploads, this.ui.list,
      { examId: ctx.examId, questionId: ctx.questionId, material: null }, {
        refresh: () => ctx.refresh(),
        render: () => ctx.render(),
        remove: (file) => this.remove(file),
        pickNew: () => this.ui.input.click(),
      });
  }

  get rule() {
    return this.ctx.q.settings.files;
  }

  get files() {
    return this.ctx.q.attempt?.files || [];
  }

  state() {
    const { q } = this.ctx;
    if (q.phase === "submitted") return "submitted";
    if (q.phase === "closed") return "closed";
    return q.attempt?.opened_at ? "files" : "intro";
  }

  start() {
    const { ui } = this;
    ui.input.accept = acceptOf(this.rule.formats);
    ui.open.addEventListener("click", () => this.open());
    ui.input.addEventListener("change", () => this.add([...ui.input.files]));
    ui.save.addEventListener("click", () => this.save());
    ui.submit.addEventListener("click", () => this.submit());
  }

  message(st) {
    const { ctx } = this;
    const a = ctx.q.attempt;
    const time = (ts) => shortTime(ts, ctx.clock);
    if (st === "submitted") return t("exam.msg.submitted", { time: time(a.submitted_at) });
    if (st === "closed" && a.end_reason) return t("exam.msg.endedByProctor", { time: time(a.closed_at) });
    if (st === "closed") return t("exam.off.closed", { time: time(a.submission_deadline) });
    if (ctx.exam.state === "upcoming") {
      return t("exam.msg.notOpen", { time: time(ctx.exam.opens_at) });
    }
    if (ctx.exam.state === "closed") return t("exam.msg.examClosed");
    if (st === "intro") {
      const limit = ctx.q.settings.submission_limit_s;
      return limit == null ? t("exam.off.intro") : t("exam.off.introLimit", { d: duration(limit) });
    }
    return t("exam.off.files");
  }

  render() {
    const { ui, ctx, rule } = this;
    const st = ctx.state;
    const open = ctx.exam.state === "open";
    const editable = st === "files" && open;
    const a = ctx.q.attempt;
    const files = this.files;
    const pending = files.filter((f) => f.pending).length;
    ui.panel.hidden = false;
    ui.message.textContent = this.message(st);
    ui.open.hidden = !(st === "intro" && open);
    ui.open.disabled = ctx.busy;
    ui.files.hidden = st === "intro";
    ui.pick.hidden = !editable || files.length >= rule.max_count;
    ui.input.disabled = ctx.busy;
    ui.rules.hidden = !editable;
    ui.rules.textContent = t("exam.off.rules", {
      kinds: list(rule.kinds.map((k) => t(`exam.kind.${k}`))),
      formats: list(rule.formats.map((f) => f.toUpperCase())),
      min: rule.min_count, max: rule.max_count, size: bytes(rule.max_bytes),
    });
    ui.count.hidden = st !== "files";
    ui.count.dataset.count = String(files.length);
    ui.count.dataset.pending = String(pending);
    const need = rule.min_count === rule.max_count ? String(rule.max_count)
      : `${rule.min_count}–${rule.max_count}`;
    if (pending) ui.count.textContent = t("upload.off.count", { n: files.length, need, p: pending });
    else if (rule.min_count === rule.max_count) {
      ui.count.textContent = t("exam.off.countExact", { n: files.length, max: rule.max_count });
    } else {
      ui.count.textContent = t("exam.off.count", {
        n: files.length, min: rule.min_count, max: rule.max_count,
      });
    }
    ui.count.dataset.kind = files.length >= rule.min_count ? "ok" : "pending";
    this.box.render({ files, editable });
    const live = new Set(this.box.items().map((i) => i.uploadId));
    const waiting = files.filter((f) => f.pending && !live.has(f.file_id)).length;
    ui.hint.hidden = !(waiting && st !== "closed");
    ui.hint.textContent = t("upload.off.resumeHint");
    this.renderGrace();
    ui.savedAt.hidden = !(a?.saved_at && st === "files");
    if (a?.saved_at) ui.savedAt.textContent = t("exam.off.savedAt", { time: shortTime(a.saved_at, ctx.clock) });
    ui.save.hidden = !editable;
    ui.submit.hidden = !editable;
    ui.save.disabled = ctx.busy;
    ui.submit.disabled = ctx.busy || files.length < rule.min_count;
  }

  /** Until when unfinished files may still arrive (M4.1): the server's time, counted down. */
  renderGrace() {
    const { ui, ctx } = this;
    const st = ctx.state;
    const pending = this.files.filter((f) => f.pending).length
      || uploads.of(this.box.scope).filter((i) => !["done", "failed"].includes(i.state)).length;
    const deadline = ctx.exam.upload_deadline;
    const show = pending > 0 && ["files", "submitted"].includes(st) && typeof deadline === "number";
    ui.grace.hidden = !show;
    if (!show) return;
    const left = ctx.clock.left(deadline);
    const time = shortTime(deadline, ctx.clock);
    if (left <= 0) {
      ui.grace.textContent = t("upload.off.graceOver", { time });
      ui.grace.dataset.kind = "error";
      return;
    }
    ui.grace.textContent = st === "submitted"
      ? t("upload.off.graceSubmitted", { n: pending, time, left: remaining(left) })
      : t("upload.off.grace", { time });
    ui.grace.dataset.kind = st === "submitted" ? "warning" : "info";
  }

  tick() {
    if (!this.ui.grace.hidden) this.renderGrace();
  }

  open() {
    return this.ctx.call(() => api("POST", this.ctx.path("/open")));
  }

  async add(files) {
    const { rule } = this;
    this.ui.input.value = "";
    await this.box.add(files, {
      formats: rule.formats, maxBytes: rule.max_bytes, minBytes: rule.min_bytes,
      maxCount: rule.max_count,
    });
    this.ctx.render();
  }

  remove(file) {
    const path = this.ctx.path(`/files/${encodeURIComponent(file.file_id)}`);
    return this.ctx.call(() => api("DELETE", path));
  }

  async save() {
    const result = await this.ctx.call(() => api("POST", this.ctx.path("/save")));
    if (result) this.ctx.notify({ key: "exam.off.saved", kind: "ok" });
  }

  async submit() {
    const pending = this.files.filter((f) => f.pending).length;
    const until = shortTime(this.ctx.exam.upload_deadline, this.ctx.clock);
    const text = submitFilesText(this.files.length, pending, until);
    const ok = await this.ctx.confirm(text, t("exam.btn.submit"));
    if (ok) await this.ctx.call(() => api("POST", this.ctx.path("/submit")));
  }
}
