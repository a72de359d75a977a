// Files of an answer on the page (an offline question's files, a material's files):
// checking a chosen file against the question's rules, the uploads this page is
// sending (a progress bar each, pause, resume, cancel: upload-manager.js over tus),
// and the files the server holds — complete, or still arriving (续传: the candidate
// picks the same file again and it goes on from the server's offset).

import { bytes, dateTime, leaveIfGated, list } from "../lib/candidate-page.js";
import { t } from "../lib/i18n.js";
import { ResumeProblem, uploads } from "../lib/upload-manager.js";
import { errorText } from "../lib/errors.js";

export function extension(name) {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
}

/** The <input accept> of a format list. */
export function acceptOf(formats) {
  return formats.map((f) => `.${f}`).join(",");
}

/** Why ``file`` cannot be uploaded here, or null (the server checks again, and its content). */
export function fileProblem(file, { formats, maxBytes, minBytes = 0 }) {
  if (!formats.includes(extension(file.name))) {
    return t("exam.files.badFormat", { formats: list(formats.map((f) => f.toUpperCase())) });
  }
  if (file.size > maxBytes) return t("exam.files.tooBig", { max: bytes(maxBytes) });
  if (file.size < Math.max(minBytes, 1)) {
    return minBytes > 0 ? t("exam.files.tooSmall", { min: bytes(minBytes) })
      : t("exam.files.empty");
  }
  return null;
}

export function percent(offset, size) {
  return size ? Math.floor((offset / size) * 100) : 100;
}

/** An upload's failure in the candidate's words (the server's message where it has one). */
export function uploadErrorText(error) {
  if (!error) return "";
  if (error.text) return error.text;
  if (error instanceof ResumeProblem) {
    return t(error.code === "mismatch" ? "upload.mismatch" : "upload.noRecord", { name: error.name });
  }
  const own = {
    unreadable: "upload.abnormal",
    upload_expired: "upload.err.expired",
    network: "upload.err.network",
    conflict: "upload.err.conflict",
  }[error.code];
  return own ? t(own, { message: error.message }) : errorText(error, "exam");
}

function el(tag, className = "", testid = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (testid) node.dataset.testid = testid;
  return node;
}

function button(label, className, testid, onClick) {
  const b = el("button", className, testid);
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

/** Keep ``ul``'s children as one per key, in order: made once, then updated in place
 * (a button under the pointer is never replaced while it is pressed). */
function sync(ul, entries, make, update) {
  const old = new Map([...ul.children].map((li) => [li.dataset.key, li]));
  const rows = entries.map(([key, value]) => {
    let li = old.get(key);
    if (!li) {
      li = make(value);
      li.dataset.key = key;
    }
    old.delete(key);
    update(li, value);
    return li;
  });
  for (const li of old.values()) li.remove();
  rows.forEach((li, i) => {
    if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] || null);
  });
}

// -- one upload this page is sending --------------------------------------------------------

/** A row for an upload of this page: progress, pause/resume, cancel; a failure's reason. */
export function uploadRow(item, { onRedo = null, onRepick = null } = {}) {
  const li = el("li", "upload-row", "upload");
  const head = el("div", "upload-head");
  const name = el("strong");
  name.textContent = item.name;
  const pct = el("span", "percent", "upload-percent");
  head.append(name, pct);
  const bar = el("progress", "", "upload-progress");
  bar.max = 1;
  bar.value = 0;
  const sizes = el("p", "upload-sizes muted", "upload-sizes");
  const note = el("p", "upload-note", "upload-note");
  const error = el("p", "upload-error", "upload-error");
  const actions = el("div", "upload-actions");
  const parts = {
    name, pct, bar, sizes, note, error,
    pause: button("", "secondary small", "upload-pause", () => uploads.pause(item)),
    resume: button("", "primary small", "upload-resume", () => uploads.resume(item)),
    cancel: button("", "link small", "upload-cancel", async () => {
      try {
        await uploads.cancel(item);
      } catch (err) {
        item.error = err;
        updateUploadRow(li, item, li.cancellable);
      }
    }),
    redo: button("", "primary small", "upload-redo", async () => {
      try {
        await uploads.cancel(item);
        onRedo?.(item);
      } catch (err) {
        item.error = err;
        updateUploadRow(li, item, li.cancellable);
      }
    }),
    repick: button("", "secondary small", "upload-repick", () => onRepick?.(item)),
    dismiss: button("", "secondary small", "upload-dismiss", () => uploads.remove(item)),
  };
  actions.append(parts.pause, parts.resume, parts.repick, parts.redo, parts.dismiss, parts.cancel);
  li.append(head, bar, sizes, note, error, actions);
  li.parts = parts;
  updateUploadRow(li, item);
  return li;
}

/** ``cancellable``: the file may still leave the answer (not once it is submitted). */
export function updateUploadRow(li, item, cancellable = true) {
  li.cancellable = cancellable;
  const p = li.parts;
  const n = percent(item.offset, item.size);
  const unreadable = item.error?.code === "unreadable";
  const refused = item.state === "failed" && !unreadable
    && (Boolean(item.error?.text) || !item.uploadId || [404, 410, 413, 415].includes(item.error?.status));
  li.dataset.state = unreadable ? "abnormal" : item.state;
  if (item.uploadId) li.dataset.uploadId = item.uploadId;
  li.dataset.offset = String(item.offset);
  const stateText = {
    waiting: t("upload.state.waiting"),
    uploading: t("upload.state.uploading", { pct: n }),
    paused: t("upload.state.paused", { pct: n }),
    retrying: t("upload.state.retrying", { pct: n }),
    done: t("upload.state.done"),
    failed: unreadable ? t("upload.state.abnormal") : t("upload.state.failed"),
  }[item.state];
  p.pct.textContent = stateText;
  p.bar.value = item.size ? item.offset / item.size : 1;
  p.bar.hidden = refused || unreadable;
  p.sizes.textContent = t("upload.sizes", { done: bytes(item.offset), total: bytes(item.size) });
  p.sizes.hidden = refused;
  p.note.hidden = item.resumedFrom == null || item.state === "failed";
  if (item.resumedFrom != null) {
    p.note.textContent = t("upload.resumedFrom", {
      pct: percent(item.resumedFrom, item.size), done: bytes(item.resumedFrom),
    });
  }
  p.error.hidden = item.state !== "failed" || !item.error;
  // A submitted answer keeps its files: no "remove", only the file (or a copy) again.
  p.error.textContent = unreadable && !cancellable ? t("upload.abnormalSubmitted")
    : uploadErrorText(item.error);
  if (item.restarted && item.state !== "failed") {
    p.note.hidden = false;
    p.note.textContent = t("upload.restarted");
  }
  p.pause.textContent = t("upload.btn.pause");
  p.pause.hidden = !["waiting", "uploading", "retrying"].includes(item.state);
  p.resume.textContent = item.state === "failed" ? t("upload.btn.retry") : t("upload.btn.resume");
  p.resume.hidden = !(item.state === "paused" || (item.state === "failed" && !refused && !unreadable));
  p.redo.textContent = t("upload.btn.redo");
  p.redo.hidden = !unreadable || !cancellable; // a submitted answer keeps its files
  p.repick.textContent = t("upload.btn.repick"); // found the file again: it goes on
  p.repick.hidden = !unreadable || !item.uploadId;
  p.dismiss.textContent = t("upload.btn.dismiss");
  p.dismiss.hidden = !refused;
  p.cancel.textContent = t("upload.btn.cancel");
  p.cancel.hidden = refused || unreadable || item.state === "done" || !cancellable;
}

// -- the files of one question (or material) -----------------------------------------------

/**
 * The files of an answer as the server holds them, and this page's uploads for it.
 * ``scope``: {examId, questionId, material}; ``hooks``: refresh() (load the question
 * again), render() (draw the page again), remove(file) (DELETE it), pickNew() (open the
 * "add files" picker again, after a 文件异常 file was removed).
 */
export class FileBox {
  constructor(uploadsEl, filesEl, scope, hooks) {
    this.uploadsEl = uploadsEl;
    this.filesEl = filesEl;
    this.scope = scope;
    this.hooks = hooks;
    this.state = { files: [], editable: false };
    this.problems = new Map(); // file id → a refusal of the file picked to continue it
    this.picker = document.createElement("input");
    this.picker.type = "file";
    this.picker.hidden = true;
    this.picker.dataset.testid = "resume-input";
    this.picker.addEventListener("change", () => this._picked());
    filesEl.after(this.picker);
    this.target = null;
    uploads.on((type, item) => this._changed(type, item));
  }

  /** The files picked in the "add" input: new uploads, or ones to continue. */
  async add(files, { formats, maxBytes, minBytes = 0, maxCount }) {
    let room = maxCount - this.state.files.length;
    for (const file of files) {
      const record = await uploads.recordOf(file, this.scope).catch(() => null);
      const pending = record && this.state.files.find((f) => f.file_id === record.uploadId && f.pending);
      if (pending) { // the same file again: its upload goes on where it stopped
        this.problems.delete(pending.file_id);
        await uploads.resumeWith(file, this.scope.examId, record.uploadId).catch((err) => {
          this.problems.set(pending.file_id, uploadErrorText(err));
        });
        continue;
      }
      let problem = fileProblem(file, { formats, maxBytes, minBytes });
      if (!problem && room <= 0) problem = t("exam.off.full", { max: maxCount });
      if (!problem) room -= 1;
      uploads.add(file, this.scope, { problem });
    }
  }

  /** Items of this page for these files, not yet shown as complete by the server. */
  items() {
    const files = new Map(this.state.files.map((f) => [f.file_id, f]));
    return uploads.of(this.scope).filter((item) => {
      if (item.state !== "done") return true;
      return files.get(item.uploadId)?.pending === true; // until the server says complete
    });
  }

  render({ files, editable }) {
    this.state = { files, editable };
    const items = this.items();
    if (files.some((f) => f.pending) && !uploads.listings.has(this.scope.examId) && !this._asked) {
      this._asked = true; // where the pending files stand: the server's list
      uploads.loadListing(this.scope.examId).catch(() => {});
    }
    sync(this.uploadsEl, items.map((i) => [`u${i.id}`, i]),
      (item) => uploadRow(item, {
        onRedo: async () => { // the file left the answer: count it out, then pick again
          await this.hooks.refresh();
          this.hooks.pickNew?.();
        },
        onRepick: (it) => this._pick({
          file_id: it.uploadId, name: it.name, format: extension(it.name), size: it.size,
        }),
      }),
      (li, item) => updateUploadRow(li, item, editable));
    const live = new Set(items.map((i) => i.uploadId).filter(Boolean));
    const shown = files.filter((f) => !live.has(f.file_id));
    sync(this.filesEl, shown.map((f) => [f.file_id, f]),
      (f) => this._fileRow(f), (li, f) => this._updateFileRow(li, f, files.indexOf(f) + 1));
  }

  /** Pending files of the answer (still arriving). */
  get pending() {
    return this.state.files.filter((f) => f.pending);
  }

  // -- rows of the server's files -------------------------------------------------------

  _fileRow(file) {
    const li = el("li", "file-row", "file");
    li.dataset.fileId = file.file_id;
    const text = el("div", "file-text");
    const name = el("strong");
    const meta = el("span", "muted");
    const status = el("span", "file-status", "file-status");
    const problem = el("span", "upload-error", "file-problem");
    text.append(name, meta, status, problem);
    const resume = button("", "primary small", "resume-file", () => this._pick(li.file));
    li.append(text, resume);
    li.parts = { name, meta, status, problem, resume, remove: null };
    return li;
  }

  _updateFileRow(li, file, n) {
    const p = li.parts;
    li.file = file;
    li.dataset.pending = String(Boolean(file.pending));
    p.name.textContent = file.name || t("exam.files.nth", { n });
    p.meta.textContent = `${t(`exam.kind.${file.kind}`)} · ${file.format.toUpperCase()} · ${bytes(file.size)}`;
    const status = file.pending ? this._status(file) : null;
    p.status.hidden = !status;
    if (status) {
      p.status.textContent = status.text;
      p.status.dataset.kind = status.kind;
    }
    const problem = this.problems.get(file.file_id);
    p.problem.hidden = !problem;
    p.problem.textContent = problem || "";
    p.resume.textContent = t("upload.btn.continue");
    p.resume.hidden = !(file.pending && status?.resumable);
    // "Remove" only while the answer may change (a submitted one keeps its files).
    if (this.state.editable && !p.remove) {
      p.remove = button("", "secondary small", "remove-file", async () => {
        const file = li.file;
        await this.hooks.remove(file);
        uploads.forget(this.scope.examId, file.file_id);
      });
      li.append(p.remove);
    } else if (!this.state.editable && p.remove) {
      p.remove.remove();
      p.remove = null;
    }
    if (p.remove) p.remove.textContent = t("exam.files.remove");
  }

  /** Where a pending file stands, from the server's list of unfinished uploads. */
  _status(file) {
    const listing = uploads.listings.get(this.scope.examId);
    const entry = uploads.entry(this.scope.examId, file.file_id);
    if (entry) {
      const pct = percent(entry.offset, entry.length);
      if (uploads.busyElsewhere(file.file_id)) {
        return { text: t("upload.state.elsewhere", { pct }), kind: "uploading", resumable: true };
      }
      return { text: t("upload.state.interrupted", { pct }), kind: "interrupted", resumable: true };
    }
    const other = listing?.other_devices.find((d) => d.files.some(
      (f) => f.name === file.name && f.question_id === this.scope.questionId,
    ));
    if (other) {
      return { text: t("upload.state.otherDevice", { device: other.device_name }), kind: "other",
        resumable: false };
    }
    return { text: t("upload.state.pending"), kind: "interrupted", resumable: true };
  }

  _pick(file) {
    this.target = file;
    this.problems.delete(file.file_id);
    this.picker.accept = `.${file.format}`;
    this.picker.click();
  }

  async _picked() {
    const file = this.picker.files[0];
    const target = this.target;
    this.picker.value = "";
    if (!file || !target) return;
    try {
      await uploads.resumeWith(file, this.scope.examId, target.file_id, target.name);
    } catch (err) {
      if (err instanceof ResumeProblem && this._copyOf(file, target)) {
        await this._restart(file, target);
      } else {
        this.problems.set(target.file_id, this._lostText(err, target));
        const live = uploads.byUpload(target.file_id);
        if (live?.state === "failed") uploads.remove(live); // its file row says what to do
      }
    }
    this.hooks.render();
  }

  /** A file that cannot continue the upload but may replace its bytes: the same size and
   * format as the file of the answer (a copy of the lost one, another modification time). */
  _copyOf(file, target) {
    return typeof target.size === "number" && file.size === target.size
      && extension(file.name) === target.format;
  }

  /** Send the copy from its first byte (what had arrived is deleted on the server). */
  async _restart(file, target) {
    try {
      const item = await uploads.restartWith(file, this.scope, target.file_id);
      item.restarted = true;
    } catch (err) {
      this.problems.set(target.file_id, uploadErrorText(err));
    }
  }

  /** Why the file picked cannot go on, and what the candidate can do: remove it and
   * upload again while the answer may change; once submitted, only the same file. */
  _lostText(err, target) {
    if (this.state.editable || !(err instanceof ResumeProblem)) return uploadErrorText(err);
    const until = uploads.entry(this.scope.examId, target.file_id)?.expires_at
      ?? uploads.listings.get(this.scope.examId)?.upload_deadline;
    const params = {
      name: target.name, size: typeof target.size === "number" ? bytes(target.size) : "?",
    };
    return until == null ? t("upload.lostSubmitted", params)
      : t("upload.lostSubmittedUntil", { ...params, time: dateTime(until) });
  }

  _changed(type, item) {
    if (type === "listing") {
      this.hooks.render();
      return;
    }
    if (!item || !this._mine(item)) return;
    if (type === "state" && item.state === "failed" && leaveIfGated(item.error, this.scope.examId)) {
      return; // logged out, or the exam's verification is due: that page comes first
    }
    if (type === "progress") {
      const li = [...this.uploadsEl.children].find((x) => x.dataset.key === `u${item.id}`);
      if (li) updateUploadRow(li, item, li.cancellable);
      return;
    }
    if (["created", "done", "remove"].includes(type) || (type === "state" && item.state === "failed")) {
      this.hooks.refresh(); // the server's files changed: a new pending one, complete, gone
      uploads.loadListing(this.scope.examId).catch(() => {});
    }
    this.hooks.render();
  }

  _mine(item) {
    const s = this.scope;
    return item.scope.examId === s.examId && item.scope.questionId === s.questionId
      && (item.scope.material || null) === (s.material || null);
  }
}
