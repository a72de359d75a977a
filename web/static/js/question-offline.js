// 线下录制: an offline question, answered with files prepared beforehand.
//
// Opening the question (开始作答) starts its submission time. Then files are
// added (several, each with a progress bar), removed, saved as a draft (保存)
// and submitted (提交) between the question's minimum and maximum count.
//
// States (<body data-state>): intro (not opened yet), files, submitted, closed.

import { api } from "./api.js";
import {
  UploadQueue, acceptOf, fileProblem, fileRow, rememberName,
} from "./answer-files.js";
import { $, bytes, duration, leaveIfGated, list, shortTime } from "./exam-common.js";
import { t } from "./i18n.js";

export class OfflineAnswer {
  constructor(ctx) {
    this.ctx = ctx;
    this.ui = {
      panel: $("offline"), message: $("offline-message"), open: $("open-question"),
      files: $("files"), input: $("file-input"), pick: $("add-files"), rules: $("file-rules"),
      uploads: $("upload-list"), count: $("file-count"), list: $("file-list"),
      savedAt: $("saved-at"), save: $("save-files"), submit: $("submit-files"),
    };
    this.queue = new UploadQueue(this.ui.uploads, (page, file) => this.uploaded(page, file),
      (err) => leaveIfGated(err, ctx.examId), () => ctx.render());
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
    ui.panel.hidden = false;
    ui.message.textContent = this.message(st);
    ui.open.hidden = !(st === "intro" && open);
    ui.open.disabled = ctx.busy;
    ui.files.hidden = st === "intro";
    ui.pick.hidden = !editable || this.files.length >= rule.max_count;
    ui.input.disabled = ctx.busy;
    ui.rules.hidden = !editable;
    ui.rules.textContent = t("exam.off.rules", {
      kinds: list(rule.kinds.map((k) => t(`exam.kind.${k}`))),
      formats: list(rule.formats.map((f) => f.toUpperCase())),
      min: rule.min_count, max: rule.max_count, size: bytes(rule.max_bytes),
    });
    ui.count.hidden = st !== "files";
    ui.count.dataset.count = String(this.files.length);
    ui.count.textContent = rule.min_count === rule.max_count
      ? t("exam.off.countExact", { n: this.files.length, max: rule.max_count })
      : t("exam.off.count", { n: this.files.length, min: rule.min_count, max: rule.max_count });
    ui.count.dataset.kind = this.files.length >= rule.min_count ? "ok" : "pending";
    ui.list.replaceChildren(...this.files.map((file, i) => fileRow(
      file, i + 1, editable ? (f) => this.remove(f) : null,
    )));
    ui.savedAt.hidden = !(a?.saved_at && st === "files");
    if (a?.saved_at) ui.savedAt.textContent = t("exam.off.savedAt", { time: shortTime(a.saved_at, ctx.clock) });
    ui.save.hidden = !editable;
    ui.submit.hidden = !editable;
    const busy = ctx.busy || this.queue.busy;
    ui.save.disabled = busy;
    ui.submit.disabled = busy || this.files.length < rule.min_count;
  }

  tick() {}

  open() {
    return this.ctx.call(() => api("POST", this.ctx.path("/open")));
  }

  add(files) {
    const { rule } = this;
    let room = rule.max_count - this.files.length;
    for (const file of files) {
      const path = `${this.ctx.path("/files")}?name=${encodeURIComponent(file.name)}`;
      let problem = fileProblem(file, {
        formats: rule.formats, maxBytes: rule.max_bytes, minBytes: rule.min_bytes,
      });
      if (!problem && room <= 0) problem = t("exam.off.full", { max: rule.max_count });
      if (!problem) room -= 1;
      this.queue.add(file, path, problem);
    }
    this.ui.input.value = "";
    this.ctx.render();
  }

  uploaded(page, file) {
    const known = new Set(this.files.map((f) => f.file_id));
    for (const f of page.question.attempt?.files || []) {
      if (!known.has(f.file_id)) rememberName(f.file_id, file.name);
    }
    this.ctx.setPage(page);
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
    const ok = await this.ctx.confirm(t("exam.confirm.submitFiles", { n: this.files.length }),
      t("exam.btn.submit"));
    if (ok) await this.ctx.call(() => api("POST", this.ctx.path("/submit")));
  }
}
