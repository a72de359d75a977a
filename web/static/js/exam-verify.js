// Real-person verification (实人验证) for one scope, in a panel of the page:
// the same rules as at log-in, asked again before each exam (scope exam:<id>).
//
//   ready ─start→ answering ─answer→ passed (onPassed) | ready (a failure counted)
//   answering ─cancel→ waiting (60 s) → ready
//   three failures in a row → manual_review: upload a photo holding the ID card
//   → review_pending → passed (staff approve) | ready (staff reject, three more tries)
//
// The panel's elements are in the page (data-testid="verify-*"); the server
// decides every state, the panel shows it and counts the wait down.

import { ApiError, api } from "./api.js";
import { $, errorText } from "./exam-common.js";
import { lang, t } from "./i18n.js";
import { upload } from "./upload.js";

const FAILURES_FOR_REVIEW = 3;

export class Verification {
  /** ``onPassed(scope)`` runs once the scope is verified; ``onGated(err)`` for a 401. */
  constructor({ onPassed, onGated }) {
    this.onPassed = onPassed;
    this.onGated = onGated;
    this.ui = {
      root: $("verify"), title: $("verify-title"), notice: $("verify-notice"),
      status: $("verify-status"), form: $("verify-form"), prompt: $("verify-prompt"),
      answer: $("verify-answer"), submit: $("verify-submit"), cancel: $("verify-cancel"),
      start: $("verify-start"), review: $("verify-review"), photo: $("review-photo"),
      progress: $("review-progress"), refresh: $("verify-refresh"), close: $("verify-close"),
      standIn: $("verify-stand-in"),
    };
    this.scope = null;
    this.state = null; // the server's status: ready, waiting, passed, manual_review, review_pending
    this.attempt = null; // {attempt_id, challenge} while answering
    this.retryAt = 0; // performance.now() when another attempt may start
    this.notice = null;
    this.busy = false;
    this.ticker = null;
    this.ui.start.addEventListener("click", () => this.start());
    this.ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.answer();
    });
    this.ui.cancel.addEventListener("click", () => this.cancel());
    this.ui.refresh.addEventListener("click", () => this.load());
    this.ui.photo.addEventListener("change", () => this.sendPhoto());
  }

  /** Show the panel for ``scope`` under ``title`` (the exam's). */
  async open(scope, title) {
    this.scope = scope;
    this.title = title;
    this.attempt = null;
    this.notice = null;
    this.ui.root.hidden = false;
    this.ui.root.scrollIntoView({ block: "start" });
    await this.load();
  }

  close() {
    clearInterval(this.ticker);
    this.scope = null;
    this.ui.root.hidden = true;
  }

  async load() {
    await this.call(async () => {
      const status = await api("GET", `/api/verification?scope=${encodeURIComponent(this.scope)}`);
      this.apply(status);
    });
  }

  apply(status) {
    this.state = status.status;
    this.failures = status.failures ?? 0;
    this.review = status.review ?? null;
    this.attempt = null;
    clearInterval(this.ticker);
    if (this.state === "waiting") {
      this.retryAt = performance.now() + (status.retry_after ?? 60) * 1000;
      this.ticker = setInterval(() => this.tick(), 250);
    }
    if (this.state === "ready" && this.review?.state === "rejected" && !this.notice) {
      const note = this.review.note || t("exam.verify.noNote");
      this.notice = { key: "exam.verify.rejected", params: { note }, kind: "warning" };
    }
    this.render();
    if (this.state === "passed") this.onPassed(this.scope);
  }

  tick() {
    if (performance.now() >= this.retryAt) {
      clearInterval(this.ticker);
      this.state = "ready";
    }
    this.render();
  }

  async start() {
    this.notice = null;
    await this.call(async () => {
      const attempt = await api("POST", "/api/verification/attempts", { scope: this.scope });
      this.state = "answering";
      this.attempt = attempt;
      this.ui.answer.value = "";
      this.render();
      this.ui.answer.focus();
    });
  }

  async answer() {
    const answer = this.ui.answer.value.trim();
    if (!answer) {
      this.notice = { key: "exam.verify.empty", kind: "error" };
      this.render();
      return;
    }
    await this.call(async () => {
      const result = await api(
        "POST", `/api/verification/attempts/${encodeURIComponent(this.attempt.attempt_id)}`,
        { answer },
      );
      if (result.passed) {
        this.notice = { key: "exam.verify.passed", kind: "ok" };
      } else if (result.status === "manual_review") {
        this.notice = null; // the status line says what to do now
      } else {
        const left = Math.max(0, FAILURES_FOR_REVIEW - (result.failures ?? 0));
        this.notice = { key: "exam.verify.failed", params: { n: left }, kind: "error" };
      }
      this.apply(result);
    });
  }

  async cancel() {
    if (!this.attempt) return;
    await this.call(async () => {
      const id = encodeURIComponent(this.attempt.attempt_id);
      const status = await api("POST", `/api/verification/attempts/${id}/cancel`);
      this.notice = null; // the status line counts the wait down
      this.apply(status);
    });
  }

  async sendPhoto() {
    const file = this.ui.photo.files[0];
    if (!file) return;
    this.ui.progress.hidden = false;
    this.ui.progress.value = 0;
    await this.call(async () => {
      const path = `/api/verification/reviews?scope=${encodeURIComponent(this.scope)}`;
      const type = file.type === "image/png" ? "image/png" : "image/jpeg";
      await upload(path, file, (part) => { this.ui.progress.value = part; }, type).done;
      this.notice = { key: "exam.verify.photoSent", kind: "ok" };
      await this.load();
    });
    this.ui.photo.value = "";
    this.ui.progress.hidden = true;
  }

  /** Run one request with the buttons held; a refusal becomes the panel's notice. */
  async call(fn) {
    this.busy = true;
    this.render();
    try {
      await fn();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        this.onGated(err);
        return;
      }
      await this.refused(err);
    } finally {
      this.busy = false;
      this.render();
    }
  }

  async refused(err) {
    const code = err instanceof ApiError ? err.code : "";
    if (code === "rate_limited") {
      this.state = "waiting";
      this.retryAt = performance.now() + (err.details.retry_after ?? 60) * 1000;
      clearInterval(this.ticker);
      this.ticker = setInterval(() => this.tick(), 250);
      return;
    }
    if (code === "not_found" && this.attempt) {
      this.notice = { key: "exam.verify.expired", kind: "warning" };
      this.attempt = null;
      this.state = "ready";
      return;
    }
    this.notice = { text: errorText(err), kind: "error" };
    if (["manual_review_required", "conflict"].includes(code)) {
      // The server's state moved on (three failures, or verified elsewhere): ask it.
      const status = await api("GET", `/api/verification?scope=${encodeURIComponent(this.scope)}`)
        .catch(() => null);
      if (status) this.apply(status);
    }
  }

  render() {
    const { ui, state } = this;
    if (!this.scope) return;
    ui.root.dataset.status = state || "loading";
    ui.title.textContent = t("exam.verify.title", { exam: this.title });
    const waitS = Math.max(0, Math.ceil((this.retryAt - performance.now()) / 1000));
    const statusKey = {
      ready: "exam.verify.ready", waiting: "exam.verify.waiting",
      manual_review: "exam.verify.manualReview", review_pending: "exam.verify.reviewPending",
      passed: "exam.verify.done", answering: null,
    }[state];
    ui.status.hidden = !statusKey;
    if (statusKey) ui.status.textContent = t(statusKey, { seconds: waitS });
    ui.notice.hidden = !this.notice;
    if (this.notice) {
      ui.notice.textContent = this.notice.text ?? t(this.notice.key, this.notice.params);
      ui.notice.dataset.kind = this.notice.kind;
    }
    ui.start.hidden = !["ready", "waiting"].includes(state);
    ui.start.disabled = this.busy || state !== "ready";
    ui.start.textContent = state === "waiting" ? t("exam.verify.startIn", { seconds: waitS })
      : t("exam.verify.start");
    ui.form.hidden = state !== "answering";
    if (this.attempt) {
      const challenge = this.attempt.challenge || {};
      ui.prompt.textContent = challenge.prompt?.[lang()] ?? challenge.prompt?.zh
        ?? t("exam.verify.prompt");
      if (challenge.length) ui.answer.maxLength = challenge.length;
      // The built-in check stands in for a face check: the page says so.
      ui.standIn.hidden = challenge.kind !== "id_number_suffix";
    }
    ui.submit.disabled = this.busy;
    ui.cancel.disabled = this.busy;
    ui.review.hidden = state !== "manual_review";
    ui.photo.disabled = this.busy;
    ui.refresh.hidden = state !== "review_pending";
    ui.refresh.disabled = this.busy;
  }
}
