// The extra materials an online answer asks for (M3.2: video, audio, image,
// text, set per question): text typed in a box and saved, files uploaded with
// a progress bar each as resumable uploads (answer-files.js: pause, resume, 续传
// after a reload). They belong to the formal answer: editable once it is entered
// and until it is submitted or closed.

import { api } from "../../lib/api.js";
import { FileBox, acceptOf } from "../../components/answer-files.js";
import { t } from "../../lib/i18n.js";
import { materialText } from "../../lib/question-settings.js";

export class Materials {
  constructor(ctx, root) {
    this.ctx = ctx;
    this.root = root;
    this.blocks = new Map(); // key → {rule, el, parts}
    this.editable = false;
  }

  get rules() {
    return this.ctx.q.settings.materials || [];
  }

  /** Materials of the answer for ``key``. */
  of(key) {
    return (this.ctx.q.attempt?.materials || []).filter((m) => m.key === key);
  }

  /** Required materials not added yet (their labels). */
  missing() {
    return this.rules.filter((r) => r.required && this.of(r.key).length === 0)
      .map((r) => r.label || t(`exam.kind.${r.kind}`));
  }

  /** Save typed text that was not saved yet; false when the server refused it. */
  async flush() {
    for (const { rule, parts } of this.blocks.values()) {
      if (rule.kind !== "text" || !this._dirty(rule, parts)) continue;
      if (!(await this._saveText(rule, parts))) return false;
    }
    return true;
  }

  render(editable) {
    this.editable = editable;
    if (!this.blocks.size) this._build();
    for (const { rule, parts } of this.blocks.values()) {
      // Words again each time: the language may have changed.
      parts.title.textContent = rule.label || t(`exam.kind.${rule.kind}`);
      parts.rules.textContent = materialText(rule);
      if (rule.kind === "text") this._renderText(rule, parts);
      else this._renderFiles(rule, parts);
    }
  }

  // -- building -------------------------------------------------------------------------

  _build() {
    for (const rule of this.rules) {
      const el = document.createElement("div");
      el.className = "material";
      el.dataset.testid = "material";
      el.dataset.key = rule.key;
      const title = document.createElement("h4");
      const rules = document.createElement("p");
      rules.className = "muted";
      const state = document.createElement("p");
      state.className = "material-state";
      state.dataset.testid = "material-state";
      el.append(title, rules);
      const parts = { title, rules, state };
      if (rule.kind === "text") this._buildText(rule, el, parts);
      else this._buildFiles(rule, el, parts);
      el.append(state);
      this.root.append(el);
      this.blocks.set(rule.key, { rule, el, parts });
    }
  }

  _buildText(rule, el, parts) {
    const box = document.createElement("textarea");
    box.rows = 4;
    box.maxLength = rule.max_chars;
    box.dataset.testid = "material-text";
    box.value = this.of(rule.key)[0]?.text || "";
    const row = document.createElement("div");
    row.className = "inline-row";
    const count = document.createElement("span");
    count.className = "muted";
    const save = document.createElement("button");
    save.type = "button";
    save.className = "secondary small";
    save.dataset.testid = "save-text";
    save.addEventListener("click", () => this._saveText(rule, parts));
    box.addEventListener("input", () => this._renderText(rule, parts));
    row.append(count, save);
    el.append(box, row);
    Object.assign(parts, { box, count, save });
  }

  _buildFiles(rule, el, parts) {
    const files = document.createElement("ul");
    files.className = "file-list";
    const uploads = document.createElement("ul");
    uploads.className = "upload-list";
    const pick = document.createElement("label");
    pick.className = "file-pick";
    const input = document.createElement("input");
    input.type = "file";
    input.multiple = rule.max_count > 1;
    input.accept = acceptOf(rule.formats);
    input.dataset.testid = "material-file";
    const text = document.createElement("span");
    pick.append(input, text);
    el.append(files, uploads, pick);
    const { ctx } = this;
    const box = new FileBox(uploads, files,
      { examId: ctx.examId, questionId: ctx.questionId, material: rule.key }, {
        refresh: () => ctx.refresh(),
        render: () => ctx.render(),
        remove: (file) => this._remove(rule, file),
        pickNew: () => input.click(),
      });
    input.addEventListener("change", async () => {
      const chosen = [...input.files];
      input.value = "";
      await box.add(chosen, {
        formats: rule.formats, maxBytes: rule.max_bytes,
        maxCount: rule.max_count,
      });
      ctx.render();
    });
    Object.assign(parts, { files, pick, pickText: text, input, fileBox: box });
  }

  // -- state ----------------------------------------------------------------------------

  _dirty(rule, parts) {
    const saved = this.of(rule.key)[0]?.text || "";
    return parts.box.value.trim() !== saved && parts.box.value.trim() !== "";
  }

  _renderText(rule, parts) {
    const saved = this.of(rule.key)[0]?.text;
    if (document.activeElement !== parts.box && !this._dirty(rule, parts) && saved) {
      parts.box.value = saved;
    }
    parts.box.disabled = !this.editable;
    parts.box.setAttribute("aria-label", rule.label || t("exam.kind.text"));
    parts.save.textContent = t("exam.materials.saveText");
    parts.save.hidden = !this.editable;
    parts.save.disabled = this.ctx.busy || !this._dirty(rule, parts);
    parts.count.textContent = t("exam.materials.chars", {
      n: parts.box.value.length, max: rule.max_chars,
    });
    let key = saved ? "exam.materials.saved" : "exam.materials.none";
    if (this._dirty(rule, parts)) key = "exam.materials.unsaved";
    parts.state.textContent = t(key);
    parts.state.dataset.kind = saved && key === "exam.materials.saved" ? "ok"
      : rule.required || this._dirty(rule, parts) ? "pending" : "";
  }

  _renderFiles(rule, parts) {
    const mine = this.of(rule.key).filter((m) => m.file);
    parts.fileBox.render({ files: mine.map((m) => m.file), editable: this.editable });
    parts.pick.hidden = !this.editable || mine.length >= rule.max_count;
    parts.pickText.textContent = t("exam.files.add");
    parts.state.textContent = t("exam.materials.fileCount", { n: mine.length, max: rule.max_count });
    parts.state.dataset.kind = mine.length ? "ok" : rule.required ? "pending" : "";
  }

  async _saveText(rule, parts) {
    const text = parts.box.value.trim();
    const result = await this.ctx.call(() => api(
      "POST", this.ctx.path(`/materials/${encodeURIComponent(rule.key)}/text`), { text },
    ));
    return Boolean(result);
  }

  _remove(rule, file) {
    const path = `/materials/${encodeURIComponent(rule.key)}/files/${encodeURIComponent(file.file_id)}`;
    return this.ctx.call(() => api("DELETE", this.ctx.path(path)));
  }
}
