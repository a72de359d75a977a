// Files of an answer on the page: checking a chosen file against the
// question's rules, uploading several one after another with a progress bar
// each, and the list of files the server holds (with the names the candidate
// gave them: the server keeps its own names, so this browser remembers them).

import { bytes, errorText, list } from "./exam-common.js";
import { t } from "./i18n.js";
import { upload } from "./upload.js";

const NAMES_KEY = "examcast.fileNames";

function names() {
  try {
    return JSON.parse(localStorage.getItem(NAMES_KEY) || "{}");
  } catch {
    return {};
  }
}

export function rememberName(fileId, name) {
  try {
    localStorage.setItem(NAMES_KEY, JSON.stringify({ ...names(), [fileId]: name }));
  } catch {
    // storage blocked: the list shows the file's kind and size instead
  }
}

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

/** A <li> for a file the server holds: its name, kind, format and size, and "remove". */
export function fileRow(file, n, onRemove) {
  const li = document.createElement("li");
  li.className = "file-row";
  li.dataset.testid = "file";
  li.dataset.fileId = file.file_id;
  const text = document.createElement("div");
  text.className = "file-text";
  const name = document.createElement("strong");
  name.textContent = names()[file.file_id] || t("exam.files.nth", { n });
  const meta = document.createElement("span");
  meta.className = "muted";
  meta.textContent = `${t(`exam.kind.${file.kind}`)} · ${file.format.toUpperCase()} · ${bytes(file.size)}`;
  text.append(name, meta);
  li.append(text);
  if (onRemove) {
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "secondary small";
    remove.dataset.testid = "remove-file";
    remove.textContent = t("exam.files.remove");
    remove.addEventListener("click", () => onRemove(file));
    li.append(remove);
  }
  return li;
}

/**
 * Uploads shown in ``listEl``, one at a time: each row has a progress bar, then
 * disappears when the server has the file (``onDone(page, file)``), or stays with
 * the reason it was refused until dismissed.
 */
export class UploadQueue {
  constructor(listEl, onDone, onGated, onChange = () => {}) {
    this.listEl = listEl;
    this.onDone = onDone;
    this.onGated = onGated;
    this.onChange = onChange;
    this.queue = [];
    this.running = false;
  }

  get busy() {
    return this.running || this.queue.length > 0;
  }

  /** ``path(file)``: where to POST it; ``problem``: a reason found before sending, or null. */
  add(file, path, problem = null) {
    const row = this._row(file);
    if (problem) {
      this._failed(row, problem);
      return;
    }
    const item = { file, path, row };
    this.queue.push(item);
    row.querySelector(".cancel").onclick = () => { // not started yet: just drop it
      this.queue = this.queue.filter((x) => x !== item);
      row.remove();
      this.onChange();
    };
    this._next();
  }

  async _next() {
    if (this.running) return;
    const item = this.queue.shift();
    if (!item) return;
    this.running = true;
    const { file, path, row } = item;
    row.dataset.state = "uploading";
    const sending = upload(path, file, (part) => {
      row.querySelector("progress").value = part;
      row.querySelector(".percent").textContent = `${Math.round(part * 100)}%`;
    });
    row.querySelector(".cancel").onclick = () => sending.abort();
    try {
      const page = await sending.done;
      row.remove();
      this.onDone(page, file);
    } catch (err) {
      if (err.status === 401 || err.code === "verification_required") this.onGated(err);
      if (err.code === "aborted") row.remove();
      else this._failed(row, errorText(err));
    } finally {
      this.running = false;
      this._next();
      this.onChange();
    }
  }

  _row(file) {
    const li = document.createElement("li");
    li.className = "upload-row";
    li.dataset.testid = "upload";
    li.dataset.state = "waiting";
    const head = document.createElement("div");
    head.className = "upload-head";
    const name = document.createElement("strong");
    name.textContent = file.name;
    const percent = document.createElement("span");
    percent.className = "percent";
    percent.textContent = t("exam.files.waiting");
    head.append(name, percent);
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    bar.dataset.testid = "upload-progress";
    const error = document.createElement("p");
    error.className = "upload-error";
    error.dataset.testid = "upload-error";
    error.hidden = true;
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "link cancel";
    cancel.textContent = t("exam.btn.cancel");
    li.append(head, bar, error, cancel);
    this.listEl.append(li);
    return li;
  }

  _failed(row, text) {
    row.dataset.state = "failed";
    row.querySelector("progress").hidden = true;
    row.querySelector(".percent").textContent = t("exam.files.failed");
    const error = row.querySelector(".upload-error");
    error.hidden = false;
    error.textContent = text;
    const dismiss = row.querySelector(".cancel");
    dismiss.textContent = t("exam.files.dismiss");
    dismiss.onclick = () => row.remove();
  }
}
