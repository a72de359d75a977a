// 未上传完的文件 (M4.2, M4.3): an exam's unfinished uploads, as the server lists them
// (GET /api/exams/{id}/uploads?device_id=): this device's files with their progress or
// ▲上传中断 and a 续传 button each, 全部续传, the devices that still have some (by
// name), and until when uploads may complete (the exam's end plus two hours, the
// server's time). Shown on the exam list, the question list and (behind 点此续传) the
// question page.
//
// A browser cannot open a file by itself: to continue, the candidate picks the same file
// again (the picker offers its format); it must be the file the upload began with (its
// fingerprint: name, size, modification time). A file this browser can no longer read,
// or has no record of, is 文件异常: remove it and upload it again.

import { api } from "../lib/api.js";
import { extension, percent, uploadErrorText } from "./answer-files.js";
import { bytes, dateTime, leaveIfGated, list, remaining } from "../lib/candidate-page.js";
import { onLangChange, t } from "../lib/i18n.js";
import { storedUploads } from "../lib/tus.js";
import { ResumeProblem, uploads } from "../lib/upload-manager.js";
import { $ } from "../lib/dom.js";
import { errorText } from "../lib/errors.js";
import { ServerClock } from "../lib/clock.js";

const POLL_S = 15; // while a file uploads from another page: its progress, now and then

function el(tag, className = "", testid = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (testid) node.dataset.testid = testid;
  return node;
}

function button(className, testid, onClick) {
  const b = el("button", className, testid);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

export class UnfinishedUploads {
  /**
   * ``root``: the <section> to fill. Options: examId; title (the exam's, shown above the
   * list); questions() (the exam's questions, for "question n" labels); always (show
   * even when nothing is unfinished: in the dialog); onClose (a close button, in the
   * dialog); onChange() (a file was removed or completed: the page loads again).
   */
  constructor(root, { examId, title = "", questions = () => [], always = false, onClose = null,
    onChange = () => {} }) {
    this.root = root;
    this.examId = examId;
    this.title = title;
    this.questions = questions;
    this.always = always;
    this.onChange = onChange;
    this.clock = new ServerClock();
    this.data = null;
    this.candidateId = null;
    this.shown = false; // once shown on a page, it stays (to say "all uploaded")
    this.message = null; // {text, kind}
    this.problems = new Map(); // upload id → why the file picked cannot continue it
    this.wanted = null; // the entries the picker is open for
    this._build(onClose);
    uploads.on((type, item) => this._changed(type, item));
    onLangChange(() => this.render());
    setInterval(() => this._tick(), 1000);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.load();
    });
  }

  /** Load the list again; false when it could not be loaded (no verification yet...). */
  async load() {
    try {
      const [data, candidateId] = await Promise.all([
        uploads.loadListing(this.examId), uploads.candidate(),
      ]);
      this.candidateId = candidateId;
      this.clock.sync(data.now);
      this.data = data;
    } catch (err) {
      if (leaveIfGated(err, null)) return false;
      if (this.data) this.message = { text: errorText(err, "exam"), kind: "error" };
      this.render();
      return false;
    }
    this.render();
    return true;
  }

  /** This device's entries not finished in this page, and whether others have any. */
  get counts() {
    const mine = (this.data?.this_device || []).filter((e) => {
      const item = uploads.byUpload(e.upload_id);
      return !item || item.state === "failed"; // the others show on the page itself
    });
    return { mine: mine.length, others: (this.data?.other_devices || []).length };
  }

  // -- building -------------------------------------------------------------------------

  _build(onClose) {
    const root = this.root;
    root.classList.add("unfinished");
    root.dataset.examId = this.examId;
    const head = el("div", "card-head");
    this.ui = { heading: el("h2", "", "unfinished-title") };
    head.append(this.ui.heading);
    const tools = el("div", "unfinished-tools");
    this.ui.refresh = button("link small", "unfinished-refresh", () => {
      this.message = null;
      this.load();
      this.onChange(); // the page's own state may have moved on too
    });
    tools.append(this.ui.refresh);
    if (onClose) {
      this.ui.close = button("secondary small", "unfinished-close", onClose);
      tools.append(this.ui.close);
    }
    head.append(tools);
    this.ui.exam = el("p", "exam-name", "unfinished-exam");
    this.ui.deadline = el("p", "deadline", "unfinished-deadline");
    this.ui.mineTitle = el("h3");
    this.ui.list = el("ul", "unfinished-list", "unfinished-list");
    this.ui.empty = el("p", "muted unfinished-empty", "unfinished-empty");
    this.ui.hint = el("p", "muted small", "unfinished-hint");
    this.ui.message = el("p", "notice", "unfinished-message");
    this.ui.all = button("primary", "unfinished-resume-all", () => this.resumeAll());
    this.ui.othersTitle = el("h3");
    this.ui.others = el("div", "unfinished-others", "unfinished-others");
    this.ui.input = el("input", "", "unfinished-input");
    this.ui.input.type = "file";
    this.ui.input.hidden = true;
    this.ui.input.addEventListener("change", () => this._picked());
    root.append(head, this.ui.exam, this.ui.deadline, this.ui.mineTitle, this.ui.list,
      this.ui.empty, this.ui.message, this.ui.all, this.ui.hint, this.ui.othersTitle,
      this.ui.others, this.ui.input);
  }

  _row(entry) {
    const li = el("li", "unfinished-item", "unfinished-item");
    li.dataset.uploadId = entry.upload_id;
    const text = el("div", "file-text");
    const name = el("strong", "", "unfinished-name");
    const where = el("span", "muted", "unfinished-where");
    const status = el("span", "file-status", "unfinished-status");
    const bar = el("progress", "", "unfinished-progress");
    bar.max = 1;
    const problem = el("span", "upload-error", "unfinished-problem");
    text.append(name, where, status, bar, problem);
    const actions = el("div", "upload-actions");
    const parts = {
      name, where, status, bar, problem,
      resume: button("primary small", "unfinished-resume", () => this.resume(li.entry)),
      pause: button("secondary small", "unfinished-pause", () => {
        const item = uploads.byUpload(li.entry.upload_id);
        if (item) uploads.pause(item);
      }),
      remove: button("secondary small", "unfinished-remove", () => this.remove(li.entry)),
    };
    actions.append(parts.pause, parts.resume, parts.remove);
    li.append(text, actions);
    li.parts = parts;
    return li;
  }

  // -- what each file shows ---------------------------------------------------------------

  /** The record this browser keeps of ``entry`` (null: it cannot be matched: 文件异常). */
  _record(entry) {
    if (!this.candidateId) return null;
    return storedUploads({ candidateId: this.candidateId, examId: this.examId })
      .find((r) => r.uploadId === entry.upload_id) || null;
  }

  /** {text, kind, fraction, resume: "live" | "pick" | null, pause, remove}. */
  _view(entry) {
    const item = uploads.byUpload(entry.upload_id);
    const abnormal = { text: t("upload.state.abnormal"), kind: "abnormal", fraction: null,
      resume: null, remove: !entry.submitted };
    if (item) {
      const pct = percent(item.offset, item.size);
      const fraction = item.size ? item.offset / item.size : 1;
      switch (item.state) {
        case "waiting":
          return { text: t("upload.state.waiting"), kind: "uploading", fraction, pause: true };
        case "uploading":
          return { text: t("upload.state.uploading", { pct }), kind: "uploading", fraction,
            pause: true };
        case "retrying":
          return { text: t("upload.state.retrying", { pct }), kind: "uploading", fraction,
            pause: true };
        case "paused":
          return { text: t("upload.state.paused", { pct }), kind: "interrupted", fraction,
            resume: "live" };
        case "done":
          return { text: t("upload.state.done"), kind: "done", fraction: 1 };
        default:
          if (item.error?.code === "unreadable") { // the file found again may go on
            return { ...abnormal, resume: "pick", problem: uploadErrorText(item.error) };
          }
          return { text: t("upload.state.failed"), kind: "abnormal", fraction: null,
            resume: "live", problem: uploadErrorText(item.error) };
      }
    }
    if (this.candidateId && !this._record(entry)) {
      // Submitted: no removing; a copy of the file (the same size) is sent from the start.
      if (entry.submitted) {
        return { ...abnormal, resume: "pick", problem: this._lost(entry, "upload.noRecordSubmitted") };
      }
      return { ...abnormal, problem: t("upload.noRecord", { name: entry.name }) };
    }
    const pct = percent(entry.offset, entry.length);
    const fraction = entry.length ? entry.offset / entry.length : 1;
    if (uploads.busyElsewhere(entry.upload_id)) {
      return { text: t("upload.state.elsewhere", { pct }), kind: "uploading", fraction,
        resume: "pick" };
    }
    return { text: t("upload.state.interrupted", { pct }), kind: "interrupted", fraction,
      resume: "pick" };
  }

  _where(entry) {
    const q = this.questions().find((x) => x.question_id === entry.question_id);
    const parts = [];
    if (q) parts.push(t("upload.list.question", { n: q.order, title: q.title }));
    parts.push(`${entry.format.toUpperCase()} · ${bytes(entry.length)}`);
    parts.push(t("upload.list.created", { time: dateTime(entry.created_at) }));
    return parts.join(" · ");
  }

  // -- rendering ----------------------------------------------------------------------------

  render() {
    const { ui, data } = this;
    const mine = data ? [...data.this_device].sort((a, b) => a.created_at - b.created_at) : [];
    const others = data?.other_devices || [];
    const any = mine.length > 0 || others.length > 0;
    if (any) this.shown = true;
    this.root.hidden = !(data && (this.always || this.shown));
    this.root.dataset.state = !data ? "loading" : mine.length ? "list" : "empty";
    this.root.dataset.count = String(mine.length);
    ui.heading.textContent = t("upload.list.title");
    ui.refresh.textContent = t("upload.btn.refresh");
    if (ui.close) ui.close.textContent = t("upload.btn.close");
    ui.exam.textContent = this.title;
    ui.exam.hidden = !this.title;
    this._renderDeadline();
    ui.mineTitle.textContent = t("upload.list.thisDevice");
    const old = new Map([...ui.list.children].map((li) => [li.dataset.uploadId, li]));
    const rows = mine.map((entry) => {
      const li = old.get(entry.upload_id) || this._row(entry);
      old.delete(entry.upload_id);
      this._update(li, entry);
      return li;
    });
    for (const li of old.values()) li.remove();
    rows.forEach((li, i) => {
      if (ui.list.children[i] !== li) ui.list.insertBefore(li, ui.list.children[i] || null);
    });
    ui.empty.hidden = mine.length > 0;
    ui.empty.textContent = t("upload.list.empty");
    const views = mine.map((e) => this._view(e));
    ui.all.textContent = t("upload.btn.resumeAll");
    ui.all.hidden = views.filter((v) => v.resume).length < 1 || mine.length < 2;
    ui.hint.textContent = t("upload.list.hint");
    ui.hint.hidden = !views.some((v) => v.resume === "pick");
    ui.message.hidden = !this.message;
    if (this.message) {
      ui.message.textContent = this.message.text;
      ui.message.dataset.kind = this.message.kind;
    }
    ui.othersTitle.textContent = t("upload.list.otherDevices");
    ui.othersTitle.hidden = others.length === 0;
    ui.others.replaceChildren(...others.map((d) => {
      const p = el("p", "notice", "unfinished-other");
      p.dataset.kind = "warning";
      p.textContent = t("upload.list.other", {
        device: d.device_name || t("upload.list.unnamedDevice"), n: d.files.length,
        names: list(d.files.map((f) => f.name)),
      });
      return p;
    }));
  }

  _update(li, entry) {
    const p = li.parts;
    const v = this._view(entry);
    li.entry = entry;
    li.dataset.state = v.kind;
    li.dataset.offset = String(uploads.byUpload(entry.upload_id)?.offset ?? entry.offset);
    p.name.textContent = entry.name;
    p.where.textContent = this._where(entry);
    p.status.textContent = v.text;
    p.status.dataset.kind = v.kind;
    p.bar.hidden = v.fraction == null;
    if (v.fraction != null) p.bar.value = v.fraction;
    const problem = this.problems.get(entry.upload_id) || v.problem || "";
    p.problem.textContent = problem;
    p.problem.hidden = !problem;
    p.resume.textContent = v.resume === "live" && uploads.byUpload(entry.upload_id)?.state === "failed"
      ? t("upload.btn.retry") : t("upload.btn.continue");
    p.resume.hidden = !v.resume;
    p.resume.title = v.resume === "pick" ? t("upload.list.pickOne", { name: entry.name }) : "";
    p.pause.textContent = t("upload.btn.pause");
    p.pause.hidden = !v.pause;
    p.remove.textContent = t("upload.btn.redo");
    p.remove.hidden = !v.remove;
  }

  _renderDeadline() {
    const deadline = this.data?.upload_deadline;
    const line = this.ui.deadline;
    line.hidden = typeof deadline !== "number";
    if (line.hidden) return;
    const left = this.clock.left(deadline);
    const time = dateTime(deadline);
    if (left <= 0) {
      line.textContent = t("upload.list.over", { time });
      line.dataset.kind = "error";
      return;
    }
    line.textContent = t("upload.list.deadline", { time }) + t("upload.list.left", { left: remaining(left) });
    line.dataset.kind = left < 1800 ? "warning" : "info";
  }

  _tick() {
    if (!this.data || this.root.hidden) return;
    this._renderDeadline();
    // A file that uploads from another page: its progress now and then.
    const elsewhere = this.data.this_device.some((e) => uploads.busyElsewhere(e.upload_id));
    this._since = (this._since || 0) + 1;
    if (elsewhere && this._since >= POLL_S) {
      this._since = 0;
      this.load();
    }
  }

  // -- actions ------------------------------------------------------------------------------

  /** 续传 one file: on at once when this page still holds it, else pick it again. */
  resume(entry) {
    this.message = null;
    this.problems.delete(entry.upload_id);
    const item = uploads.byUpload(entry.upload_id);
    if (item && ["paused", "failed"].includes(item.state) && item.error?.code !== "unreadable") {
      uploads.resume(item);
      this.render();
      return;
    }
    this._open([entry]);
  }

  /** 全部续传: every file this page holds goes on; the others are picked (several at once). */
  resumeAll() {
    this.message = null;
    const pick = [];
    for (const entry of this.data?.this_device || []) {
      const v = this._view(entry);
      if (v.resume === "live") uploads.resume(uploads.byUpload(entry.upload_id));
      else if (v.resume === "pick") pick.push(entry);
    }
    this.render();
    if (pick.length) this._open(pick);
  }

  _open(entries) {
    this.wanted = entries;
    const input = this.ui.input;
    input.multiple = entries.length > 1;
    input.accept = [...new Set(entries.map((e) => `.${e.format}`))].join(",");
    this.message = {
      text: entries.length > 1
        ? t("upload.list.pickAll", { names: list(entries.map((e) => e.name)) })
        : t("upload.list.pickOne", { name: entries[0].name }),
      kind: "info",
    };
    this.render();
    input.click();
  }

  async _picked() {
    const files = [...this.ui.input.files];
    const wanted = this.wanted || [];
    this.ui.input.value = "";
    this.wanted = null;
    if (!files.length) return;
    this.message = null;
    const missed = [];
    for (const entry of wanted) {
      // The file for this entry: the one with its name (its fingerprint is checked next).
      const file = files.length === 1 && wanted.length === 1 ? files[0]
        : files.find((f) => f.name === entry.name);
      if (!file) {
        missed.push(entry.name);
        continue;
      }
      try {
        await uploads.resumeWith(file, this.examId, entry.upload_id, entry.name);
      } catch (err) {
        if (err instanceof ResumeProblem && file.size === entry.length
          && extension(file.name) === entry.format) {
          await this._restart(file, entry); // a copy of the lost file: from its first byte
        } else if (err instanceof ResumeProblem) {
          this.problems.set(entry.upload_id, entry.submitted ? this._lost(entry)
            : uploadErrorText(err));
        } else {
          this.problems.set(entry.upload_id, errorText(err, "exam"));
        }
      }
    }
    if (missed.length) {
      this.message = { text: t("upload.list.missed", { names: list(missed) }), kind: "warning" };
    }
    this.render();
  }

  /** What the candidate can do about a lost file of a submitted answer, and by when. */
  _lost(entry, key = "upload.lostSubmittedUntil") {
    return t(key, {
      name: entry.name, size: bytes(entry.length), time: dateTime(entry.expires_at),
    });
  }

  async _restart(file, entry) {
    const scope = { examId: this.examId, questionId: entry.question_id, material: entry.material };
    try {
      const item = await uploads.restartWith(file, scope, entry.upload_id);
      item.restarted = true;
    } catch (err) {
      if (!leaveIfGated(err, this.examId)) this.problems.set(entry.upload_id, errorText(err, "exam"));
    }
  }

  /** 文件异常: remove the upload (the file leaves the answer), then upload it again. */
  async remove(entry) {
    this.message = null;
    const base = `/api/exams/${encodeURIComponent(this.examId)}/questions/`
      + encodeURIComponent(entry.question_id);
    const path = entry.material
      ? `${base}/materials/${encodeURIComponent(entry.material)}/files/${encodeURIComponent(entry.upload_id)}`
      : `${base}/files/${encodeURIComponent(entry.upload_id)}`;
    try {
      await api("DELETE", path);
    } catch (err) {
      if (leaveIfGated(err, this.examId)) return;
      this.problems.set(entry.upload_id, errorText(err, "exam"));
      this.render();
      return;
    }
    await uploads.forget(this.examId, entry.upload_id);
    const item = uploads.byUpload(entry.upload_id);
    if (item) uploads.remove(item);
    this.message = { text: t("upload.list.removed", { name: entry.name }), kind: "ok" };
    await this.load();
    this.onChange();
  }

  _changed(type, item) {
    if (type === "listing") {
      const data = uploads.listings.get(this.examId);
      if (data && data !== this.data) {
        this.data = data;
        this.clock.sync(data.now);
        this.render();
      }
      return;
    }
    if (!item || item.scope.examId !== this.examId) return;
    if (type === "progress") {
      const li = [...this.ui.list.children].find((x) => x.dataset.uploadId === item.uploadId);
      if (li) this._update(li, li.entry);
      return;
    }
    if (type === "done") {
      this.onChange();
      this.load();
    }
    this.render();
  }
}

/**
 * The question page's way in (点此续传): a line saying how many files of the exam are
 * unfinished, opening the list in a dialog. Placed after ``anchor``.
 */
export function unfinishedBanner({ examId, anchor, questions, onChange }) {
  const banner = el("p", "unfinished-banner", "unfinished-banner");
  banner.hidden = true;
  const text = el("span", "", "unfinished-banner-text");
  const open = button("link", "unfinished-open", () => {
    dialog.showModal();
    view.load();
  });
  banner.append(text, open);
  const dialog = el("dialog", "unfinished-dialog", "unfinished-dialog");
  const section = el("section", "card");
  section.dataset.testid = "unfinished";
  dialog.append(section);
  anchor.after(banner, dialog);
  const view = new UnfinishedUploads(section, {
    examId, questions, always: true, onChange, onClose: () => dialog.close(),
  });
  const draw = () => {
    const { mine, others } = view.counts;
    banner.hidden = mine === 0 && others === 0;
    text.textContent = mine
      ? t("upload.banner", { n: mine }) : others ? t("upload.bannerOther") : "";
    open.textContent = t("upload.btn.openList");
  };
  uploads.on(draw);
  onLangChange(draw);
  view.load().then(draw);
  return { banner, dialog, view, $: (id) => $(id, dialog) };
}
