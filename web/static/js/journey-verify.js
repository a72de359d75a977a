// Real-person verification at first log-in (实人验证, scope "login"), a step of
// the journey page. The server decides every state; this shows it:
//
//   ready ─start→ answering ─answer→ passed | ready (one failure counted, asked again)
//   answering ─cancel→ waiting (the server's retry time, counted down) → ready
//   three failures in a row → manual_review: upload a photo holding the ID card
//   → review_pending (asks the server now and then) → passed (approved) |
//   ready with the staff's note (rejected: three more tries)
//
// <body data-verify> carries the state (the tests read it).

import { ApiError, api } from "./api.js";
import {
  $, errorText, formatBytes, formatTime, pick, showNotice,
} from "./journey-common.js";
import { lang, t } from "./i18n.js";

const SCOPE = "login";
const STATUS_PATH = `/api/verification?scope=${SCOPE}`;
const FAILURES_FOR_REVIEW = 3;
// The server's default (review_photo_max_bytes); a 413 tells the configured one.
const PHOTO_LIMIT_BYTES = 8 * 1024 * 1024;
const PHOTO_TYPES = ["image/jpeg", "image/png"];
const REVIEW_POLL_MS = 15000;

export class VerifyStep {
  /**
   * ``me()``: the account; ``onPassed(by)`` when verified ("verifier" or
   * "manual_review"); ``handled(err)``: true when the page dealt with a refusal
   * (log-in, step order).
   */
  constructor({ me, onPassed, handled }) {
    this.me = me;
    this.onPassed = onPassed;
    this.handled = handled;
    this.ui = {
      notice: $("verify-notice"), status: $("verify-status"), form: $("verify-form"),
      prompt: $("verify-prompt"), answer: $("verify-answer"), submit: $("verify-submit"),
      cancel: $("verify-cancel"), start: $("verify-start"), review: $("review-form"),
      size: $("review-size"), what: $("review-what"), photo: $("review-photo"),
      file: $("review-file"), preview: $("review-preview"), send: $("review-submit"),
      refresh: $("review-refresh"), standIn: $("verify-stand-in"),
    };
    this.status = null; // the server's answer to GET /api/verification
    this.attempt = null; // {attempt_id, challenge} while answering
    this.retryAt = 0; // performance.now() when the wait after a cancel ends
    this.notice = null;
    this.busy = false;
    this.active = false;
    this.ticker = null;
    this.poller = null;
    this.photo = null; // the chosen File
    this.photoUrl = null;
    this.photoLimit = PHOTO_LIMIT_BYTES;
    this.wire();
  }

  wire() {
    const { ui } = this;
    ui.start.addEventListener("click", () => this.start());
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.answer();
    });
    ui.cancel.addEventListener("click", () => this.cancel());
    ui.photo.addEventListener("change", () => this.choosePhoto(ui.photo.files[0] || null));
    ui.send.addEventListener("click", () => this.sendPhoto());
    ui.refresh.addEventListener("click", () => this.load(true));
  }

  get view() {
    return this.attempt ? "answering" : this.status?.status || "loading";
  }

  async open() {
    this.active = true;
    await this.load();
  }

  close() {
    this.active = false;
    clearInterval(this.ticker);
    clearInterval(this.poller);
    delete document.body.dataset.verify;
  }

  async load(asked = false) {
    await this.call(async () => {
      const status = await api("GET", STATUS_PATH);
      if (status.photo_max_bytes) this.photoLimit = status.photo_max_bytes;
      if (asked && status.status === "review_pending") {
        this.notice = { key: "journey.verify.stillPending", kind: "info" };
      }
      this.apply(status);
    });
  }

  /** Take the server's status; start the countdown or the review polling it calls for. */
  apply(status) {
    this.status = status;
    this.attempt = null;
    clearInterval(this.ticker);
    clearInterval(this.poller);
    if (status.status === "waiting") this.waitFor(status.retry_after);
    if (status.status === "review_pending") {
      this.poller = setInterval(() => {
        if (document.visibilityState === "visible" && !this.busy) this.load();
      }, REVIEW_POLL_MS);
    }
    const review = status.review;
    if (review?.state === "rejected" && ["ready", "manual_review"].includes(status.status)
        && !this.notice) {
      this.notice = { key: "journey.verify.rejected", kind: "warning", note: review.note };
    }
    this.render();
    if (status.status === "passed") {
      this.close();
      this.onPassed(status.passed_by || "verifier");
    }
  }

  waitFor(seconds) {
    this.retryAt = performance.now() + (seconds ?? 60) * 1000;
    clearInterval(this.ticker);
    this.ticker = setInterval(() => {
      if (performance.now() < this.retryAt) {
        this.render();
        return;
      }
      clearInterval(this.ticker);
      this.load(); // the server says whether the wait is over
    }, 250);
  }

  async start({ keepNotice = false } = {}) {
    if (!keepNotice) this.notice = null;
    await this.call(async () => {
      this.attempt = await api("POST", "/api/verification/attempts", { scope: SCOPE });
      this.ui.answer.value = "";
      this.render();
      this.ui.answer.focus();
    });
  }

  async answer() {
    const answer = this.ui.answer.value.trim();
    if (!answer) {
      this.notice = { key: "journey.verify.empty" };
      this.render();
      this.ui.answer.focus();
      return;
    }
    const id = encodeURIComponent(this.attempt.attempt_id);
    let result = null;
    await this.call(async () => {
      result = await api("POST", `/api/verification/attempts/${id}`, { answer });
    });
    if (!result) return;
    if (result.passed) {
      this.notice = null;
      this.apply(result);
      return;
    }
    const left = Math.max(0, FAILURES_FOR_REVIEW - (result.failures ?? 0));
    this.notice = left
      ? { key: "journey.verify.failed", params: { n: left } }
      : { key: "journey.verify.failedThrice" };
    this.apply(result);
    // Asked again at once: a new attempt, the form stays where it was.
    if (result.status === "ready") await this.start({ keepNotice: true });
  }

  async cancel() {
    if (!this.attempt) return;
    const id = encodeURIComponent(this.attempt.attempt_id);
    this.notice = null;
    await this.call(async () => {
      this.apply(await api("POST", `/api/verification/attempts/${id}/cancel`));
    });
  }

  // -- manual review ------------------------------------------------------------------

  choosePhoto(file) {
    this.notice = null;
    if (this.photoUrl) URL.revokeObjectURL(this.photoUrl);
    this.photo = null;
    this.photoUrl = null;
    if (file && !PHOTO_TYPES.includes(file.type)) {
      this.notice = { key: "journey.verify.photo.type" };
    } else if (file && file.size > this.photoLimit) {
      this.notice = {
        key: "journey.verify.photo.tooLarge",
        params: { actual: formatBytes(file.size), size: formatBytes(this.photoLimit) },
      };
    } else if (file) {
      this.photo = file;
      this.photoUrl = URL.createObjectURL(file);
    }
    if (!this.photo) this.ui.photo.value = "";
    this.render();
  }

  async sendPhoto() {
    if (!this.photo) {
      this.notice = { key: "journey.verify.photo.pick" };
      this.render();
      return;
    }
    this.notice = { key: "journey.verify.photo.sending", kind: "info" };
    await this.call(async () => {
      await sendFile(`/api/verification/reviews?scope=${SCOPE}`, this.photo);
      this.notice = null;
      this.choosePhoto(null);
      this.apply(await api("GET", STATUS_PATH));
    });
  }

  // -- calls and refusals -------------------------------------------------------------

  async call(fn) {
    this.busy = true;
    this.render();
    try {
      await fn();
    } catch (err) {
      console.warn(err);
      if (!this.handled(err)) await this.refused(err);
    } finally {
      this.busy = false;
      this.render();
    }
  }

  async refused(err) {
    const code = err instanceof ApiError ? err.code : "network";
    if (code === "rate_limited") {
      // Cancelled a moment ago (in another tab, perhaps): the server's wait.
      this.attempt = null;
      this.status = { ...(this.status || {}), status: "waiting" };
      this.waitFor(err.details.retry_after);
      return;
    }
    if (code === "not_found" && this.attempt) {
      this.notice = { key: "journey.verify.expired", kind: "warning" };
      this.attempt = null;
      await this.start({ keepNotice: true });
      return;
    }
    if (code === "too_large") {
      if (err.details.limit) this.photoLimit = err.details.limit;
      this.notice = {
        key: "journey.verify.photo.tooLarge",
        params: { actual: formatBytes(this.photo?.size || 0), size: formatBytes(this.photoLimit) },
      };
      return;
    }
    if (code === "unsupported_media_type") {
      this.notice = { key: "journey.verify.photo.type" };
      return;
    }
    if (code === "invalid_input" && this.photo) {
      this.notice = { key: "journey.verify.photo.tooSmall" };
      return;
    }
    this.notice = { text: errorText(err) };
    if (["manual_review_required", "conflict"].includes(code)) {
      // The server's state moved on (three failures, a photo sent, passed elsewhere).
      this.notice = null;
      const status = await api("GET", STATUS_PATH).catch(() => null);
      if (status) this.apply(status);
    }
  }

  // -- rendering ----------------------------------------------------------------------

  render() {
    if (!this.active) return;
    const { ui, busy } = this;
    const view = this.view;
    document.body.dataset.verify = view;
    const status = this.status || {};
    const waitS = Math.max(0, Math.ceil((this.retryAt - performance.now()) / 1000));

    let text = "";
    if (view === "ready") {
      const failures = status.failures || 0;
      text = failures && !this.notice
        ? t("journey.verify.failures", { n: failures, left: FAILURES_FOR_REVIEW - failures })
        : t("journey.verify.ready");
    } else if (view === "waiting") {
      text = t("journey.verify.waiting", { seconds: waitS });
    } else if (view === "manual_review") {
      text = t("journey.verify.manual");
    } else if (view === "review_pending") {
      const at = status.review?.submitted_at;
      text = t("journey.verify.pending", { time: at ? formatTime(at) : "" });
    }
    ui.status.hidden = !text;
    ui.status.textContent = text;
    ui.status.dataset.seconds = view === "waiting" ? String(waitS) : "";

    const notice = this.notice?.key === "journey.verify.rejected"
      ? { ...this.notice, params: { note: this.notice.note || t("journey.verify.noNote") } }
      : this.notice;
    showNotice(ui.notice, notice);

    ui.start.hidden = !["ready", "waiting"].includes(view);
    ui.start.disabled = busy || view !== "ready";
    ui.start.textContent = view === "waiting"
      ? t("journey.verify.startIn", { seconds: waitS }) : t("journey.verify.start");

    ui.form.hidden = view !== "answering";
    if (this.attempt) {
      const challenge = this.attempt.challenge || {};
      ui.prompt.textContent = pick(challenge.prompt) || t("journey.verify.prompt");
      if (challenge.length) ui.answer.maxLength = challenge.length;
      // The built-in check stands in for a face check: the page says so.
      ui.standIn.hidden = challenge.kind !== "id_number_suffix";
    }
    ui.submit.disabled = busy;
    ui.cancel.disabled = busy;

    ui.review.hidden = view !== "manual_review";
    ui.size.textContent = t("journey.verify.photo.size", { size: formatBytes(this.photoLimit) });
    const type = this.me()?.id_type;
    ui.what.textContent = t("journey.verify.photo.what", {
      idType: (lang() === "en" ? type?.name_en : type?.name_zh) || "",
    });
    ui.file.hidden = !this.photo;
    if (this.photo) {
      ui.file.textContent = `${this.photo.name} · ${formatBytes(this.photo.size)}`;
    }
    ui.preview.hidden = !this.photoUrl;
    if (this.photoUrl && ui.preview.getAttribute("src") !== this.photoUrl) {
      ui.preview.src = this.photoUrl;
    }
    ui.preview.alt = t("journey.verify.photo.preview");
    ui.photo.disabled = busy;
    ui.send.disabled = busy;

    ui.refresh.hidden = view !== "review_pending";
    ui.refresh.disabled = busy;
  }
}

/** POST a file as the body; the JSON answer, or an ApiError as api() throws. */
async function sendFile(path, file) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": file.type },
      body: file,
    });
  } catch (err) {
    throw new ApiError(0, "network", String(err));
  }
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  const error = data?.error || {};
  throw new ApiError(
    response.status, error.code || `http_${response.status}`,
    error.message || `HTTP ${response.status}`, error.details,
  );
}
