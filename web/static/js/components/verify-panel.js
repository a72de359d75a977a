// <verify-panel>: real-person verification (实人验证) for one scope. One state machine
// for both places that ask for it; the server decides every state, the panel shows it:
//
//   ready ─start→ answering ─answer→ passed | ready (one failure counted)
//   answering ─cancel→ waiting (the server's retry time, counted down) → ready
//   three failures in a row → manual_review: upload a photo holding the ID card
//   → review_pending → passed (staff approve) | ready with the staff's note (rejected:
//   three more tries)
//
// Its elements are in the page, inside the element, each marked data-part (notice,
// status, form, prompt, answer, submit, cancel, start, stand-in, review, photo, refresh;
// title, progress, size, what, file, preview, send where the page has them):
//
//   <verify-panel kind="exam" data-testid="verify" hidden>…</verify-panel>   (exams.html)
//   <verify-panel kind="login" scope="login">…</verify-panel>               (journey.html)
//
//   panel.open(`exam:${id}`, title)   // or panel.open() for the scope of its attribute
//   panel.addEventListener("verify-passed", (e) => go(e.detail.scope, e.detail.by));
//   panel.addEventListener("verify-refused", (e) => {    // before the panel words it:
//     if (leftThePage(e.detail.error)) e.preventDefault(); // the page dealt with it
//   });
//   panel.account = () => me;         // (login) the ID type named in the photo rules
//
// The two kinds differ where their pages do (KINDS): before an exam (kind "exam", the
// exam list) the panel opens and closes over the list, says "verified" and stays while
// the page moves on, and sends a photo as soon as it is picked, with its progress; at the
// first log-in (kind "login", a step of the journey) a failed answer is asked again at
// once, a wait's end and a pending review are asked of the server, and a photo is checked
// (type, size) and previewed before it is sent. <body data-verify> carries the login
// panel's state (the tests read it); the exam panel's is its own data-status.

import "./face-challenge.js";
import { ApiError, api } from "../lib/api.js";
import { dateTime } from "../lib/format.js";
import { showNotice } from "../lib/dom.js";
import { errorText } from "../lib/errors.js";
import { has, lang, pick, t } from "../lib/i18n.js";
import { mediaErrorKey } from "../lib/media.js";
import { upload } from "../lib/upload.js";

const FAILURES_FOR_REVIEW = 3;
// The server's default (review_photo_max_bytes); its status or a 413 tells the configured one.
const PHOTO_LIMIT_BYTES = 8 * 1024 * 1024;
const PHOTO_TYPES = ["image/jpeg", "image/png"];
const REVIEW_POLL_MS = 15000;

function examStatus(view, panel) {
  const key = {
    ready: "exam.verify.ready", waiting: "exam.verify.waiting",
    manual_review: "exam.verify.manualReview", review_pending: "exam.verify.reviewPending",
    passed: "exam.verify.done",
  }[view];
  return key ? t(key, { seconds: panel.waitSeconds() }) : "";
}

function loginStatus(view, panel) {
  const status = panel.status || {};
  if (view === "ready") {
    const failures = status.failures || 0;
    return failures && !panel.notice
      ? t("journey.verify.failures", { n: failures, left: FAILURES_FOR_REVIEW - failures })
      : t("journey.verify.ready");
  }
  if (view === "waiting") return t("journey.verify.waiting", { seconds: panel.waitSeconds() });
  if (view === "manual_review") return t("journey.verify.manual");
  if (view === "review_pending") {
    const at = status.review?.submitted_at;
    return t("journey.verify.pending", { time: at ? dateTime(at) : "" });
  }
  return "";
}

const KINDS = {
  exam: {
    words: "exam.verify", // {words}.start, .startIn, .prompt, .empty, .failed, .expired, …
    errors: "exam", // lib/errors.js's words for other refusals
    status: examStatus,
    passedStays: true, // "verified" shown; the page moves on (else: the panel closes)
    askAgainAtOnce: false, // after a failed or expired answer, a new question at once
    askWhenWaitEnds: false, // the countdown's end asks the server (else: ready at once)
    pollReview: false,
    sayStillPending: false, // 刷新 while the review is pending says so
    rejectedIn: ["ready"], // states that show the staff's note of a rejected review
    conflictKeepsNotice: true, // a refusal because the state moved on stays shown
    hides: true, // open() shows the panel, close() hides it
  },
  login: {
    words: "journey.verify",
    errors: "journey",
    status: loginStatus,
    passedStays: false,
    askAgainAtOnce: true,
    askWhenWaitEnds: true,
    pollReview: true,
    sayStillPending: true,
    rejectedIn: ["ready", "manual_review"],
    conflictKeepsNotice: false,
    hides: false,
  },
};

/** Why a face check failed, in words that say what to do ("mismatch", "liveness:static"). */
function reasonText(reason) {
  if (!reason) return "";
  const key = `verify.face.reason.${reason.replace(":", ".")}`;
  if (has(key)) return t(key);
  return reason.startsWith("liveness:") ? t("verify.face.reason.liveness") : "";
}

function formatBytes(bytes) {
  const mb = bytes / (1024 * 1024);
  if (mb >= 1) return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

class VerifyPanel extends HTMLElement {
  connectedCallback() {
    if (this.ui) return;
    this.config = KINDS[this.getAttribute("kind")] ?? KINDS.exam;
    this.words = this.config.words;
    this.ui = {};
    for (const el of this.querySelectorAll("[data-part]")) this.ui[el.dataset.part] = el;
    this.scope = this.getAttribute("scope");
    this.title = "";
    this.account = () => null;
    this.status = null; // the server's answer to GET /api/verification
    this.attempt = null; // {attempt_id, challenge} while answering
    this.retryAt = 0; // performance.now() when the wait ends
    this.notice = null; // {key, params, kind} or {text, kind}
    this.busy = false;
    this.active = false;
    this.ticker = null;
    this.poller = null;
    this.photo = null; // the chosen File (a panel with a send button)
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
    ui.refresh.addEventListener("click", () => this.load(this.config.sayStillPending));
    if (ui.send) {
      ui.photo.addEventListener("change", () => this.choosePhoto(ui.photo.files[0] || null));
      ui.send.addEventListener("click", () => this.sendPhoto());
    } else {
      ui.photo.addEventListener("change", () => this.uploadPhoto());
    }
  }

  get view() {
    return this.attempt ? "answering" : this.status?.status || "loading";
  }

  get statusPath() {
    return `/api/verification?scope=${encodeURIComponent(this.scope)}`;
  }

  waitSeconds() {
    return Math.max(0, Math.ceil((this.retryAt - performance.now()) / 1000));
  }

  /** Show the panel (for ``scope`` under ``title``, the exam's) and ask the server. */
  async open(scope = undefined, title = "") {
    if (scope !== undefined) {
      this.scope = scope;
      this.title = title;
      this.attempt = null;
      this.notice = null;
    }
    this.active = true;
    if (this.config.hides) {
      this.hidden = false;
      this.scrollIntoView({ block: "start" });
    }
    await this.load();
  }

  close() {
    this.active = false;
    clearInterval(this.ticker);
    clearInterval(this.poller);
    if (this.config.hides) this.hidden = true;
    else delete document.body.dataset.verify;
  }

  async load(asked = false) {
    await this.call(async () => {
      const status = await api("GET", this.statusPath);
      if (status.photo_max_bytes) this.photoLimit = status.photo_max_bytes;
      if (asked && status.status === "review_pending") {
        this.notice = { key: `${this.words}.stillPending`, kind: "info" };
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
    if (status.status === "review_pending" && this.config.pollReview) {
      this.poller = setInterval(() => {
        if (document.visibilityState === "visible" && !this.busy) this.load();
      }, REVIEW_POLL_MS);
    }
    const review = status.review;
    if (review?.state === "rejected" && this.config.rejectedIn.includes(status.status)
        && !this.notice) {
      this.notice = { key: `${this.words}.rejected`, kind: "warning", note: review.note };
    }
    this.render();
    if (status.status === "passed") {
      if (!this.config.passedStays) this.close();
      const detail = { scope: this.scope, by: status.passed_by || "verifier" };
      this.dispatchEvent(new CustomEvent("verify-passed", { detail }));
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
      if (this.config.askWhenWaitEnds) {
        this.load(); // the server says whether the wait is over
      } else {
        this.status = { ...this.status, status: "ready" };
        this.render();
      }
    }, 250);
  }

  async start({ keepNotice = false } = {}) {
    if (!keepNotice) this.notice = null;
    await this.call(async () => {
      this.attempt = await api("POST", "/api/verification/attempts", { scope: this.scope });
      this.ui.answer.value = "";
      this.render();
      if (this.faceKind) await this.prepareFace();
      else this.ui.answer.focus();
    });
  }

  get faceKind() {
    return this.attempt?.challenge?.kind === "face_liveness";
  }

  /** The face check: its element in the form (made once), the camera opened. */
  async prepareFace() {
    if (!this.face) {
      this.face = document.createElement("face-challenge");
      this.face.dataset.testid = "face-challenge";
      const buttons = this.ui.submit.parentElement;
      buttons.before(this.face);
    }
    this.face.hidden = false;
    try {
      await this.face.prepare(this.attempt.challenge);
    } catch (err) {
      console.warn(err);
      this.notice = { key: `verify.face.camera.${mediaErrorKey(err)}`, kind: "error" };
      if (!has(this.notice.key)) this.notice = { key: "verify.face.camera.err.media", kind: "error" };
    }
  }

  stopFace() {
    if (this.face) {
      this.face.stop();
      this.face.hidden = true;
    }
  }

  async answer() {
    if (this.faceKind) {
      await this.answerFace();
      return;
    }
    const answer = this.ui.answer.value.trim();
    if (!answer) {
      this.notice = { key: `${this.words}.empty`, kind: "error" };
      this.render();
      this.ui.answer.focus();
      return;
    }
    const id = encodeURIComponent(this.attempt.attempt_id);
    let result = null;
    await this.call(async () => {
      result = await api("POST", `/api/verification/attempts/${id}`, { answer });
    });
    if (result) await this.judged(result);
  }

  /** The face check: the challenge's steps with the camera, then the frames sent. */
  async answerFace() {
    if (!this.face?.stream) {
      await this.call(() => this.prepareFace());
      if (!this.face?.stream) return;
    }
    const id = encodeURIComponent(this.attempt.attempt_id);
    this.notice = null;
    this.capturing = true;
    this.busy = true;
    this.render();
    let response = null;
    try {
      response = await this.face.run();
    } catch (err) {
      console.warn(err); // cancelled, or the camera stopped: nothing is sent
    } finally {
      this.capturing = false;
      this.busy = false;
      this.stopFace();
    }
    if (!response) {
      this.render();
      return;
    }
    let result = null;
    await this.call(async () => {
      result = await api("POST", `/api/verification/attempts/${id}`, response);
    });
    if (result) await this.judged(result);
  }

  async judged(result) {
    const left = Math.max(0, FAILURES_FOR_REVIEW - (result.failures ?? 0));
    const why = reasonText(result.reason);
    if (result.passed) {
      this.notice = this.config.passedStays ? { key: `${this.words}.passed`, kind: "ok" } : null;
    } else if (why) {
      const more = left ? t("verify.face.left", { n: left }) : "";
      const gap = lang() === "en" ? " " : ""; // Chinese sentences need no space between
      this.notice = { text: `${why}${gap}${more}`.trim(), kind: "error", reason: result.reason };
    } else if (this.config.askAgainAtOnce) {
      this.notice = left
        ? { key: `${this.words}.failed`, params: { n: left }, kind: "error" }
        : { key: `${this.words}.failedThrice`, kind: "error" };
    } else {
      this.notice = result.status === "manual_review" ? null // the status line says what now
        : { key: `${this.words}.failed`, params: { n: left }, kind: "error" };
    }
    this.apply(result);
    // Asked again at once: a new attempt, the form stays where it was.
    if (this.config.askAgainAtOnce && result.status === "ready") {
      await this.start({ keepNotice: true });
    }
  }

  async cancel() {
    if (!this.attempt) return;
    this.stopFace();
    const id = encodeURIComponent(this.attempt.attempt_id);
    this.notice = null; // the status line counts the wait down
    await this.call(async () => {
      this.apply(await api("POST", `/api/verification/attempts/${id}/cancel`));
    });
  }

  // -- manual review: a photo holding the ID card ------------------------------------

  /** (A panel without a send button) the picked photo goes at once, with its progress. */
  async uploadPhoto() {
    const { ui } = this;
    const file = ui.photo.files[0];
    if (!file) return;
    ui.progress.hidden = false;
    ui.progress.value = 0;
    await this.call(async () => {
      const path = `/api/verification/reviews?scope=${encodeURIComponent(this.scope)}`;
      const type = file.type === "image/png" ? "image/png" : "image/jpeg";
      await upload(path, file, (part) => { ui.progress.value = part; }, type).done;
      this.notice = { key: `${this.words}.photoSent`, kind: "ok" };
      await this.load();
    });
    ui.photo.value = "";
    ui.progress.hidden = true;
  }

  /** (A panel with a send button) the picked photo, checked and shown before it is sent. */
  choosePhoto(file) {
    this.notice = null;
    if (this.photoUrl) URL.revokeObjectURL(this.photoUrl);
    this.photo = null;
    this.photoUrl = null;
    if (file && !PHOTO_TYPES.includes(file.type)) {
      this.notice = { key: `${this.words}.photo.type`, kind: "error" };
    } else if (file && file.size > this.photoLimit) {
      this.notice = this.tooLarge(file.size);
    } else if (file) {
      this.photo = file;
      this.photoUrl = URL.createObjectURL(file);
    }
    if (!this.photo) this.ui.photo.value = "";
    this.render();
  }

  tooLarge(size) {
    return {
      key: `${this.words}.photo.tooLarge`, kind: "error",
      params: { actual: formatBytes(size), size: formatBytes(this.photoLimit) },
    };
  }

  async sendPhoto() {
    if (!this.photo) {
      this.notice = { key: `${this.words}.photo.pick`, kind: "error" };
      this.render();
      return;
    }
    this.notice = { key: `${this.words}.photo.sending`, kind: "info" };
    await this.call(async () => {
      const path = `/api/verification/reviews?scope=${encodeURIComponent(this.scope)}`;
      await api("POST", path, this.photo);
      this.notice = null;
      this.choosePhoto(null);
      this.apply(await api("GET", this.statusPath));
    });
  }

  // -- calls and refusals -------------------------------------------------------------

  /** Run one request with the buttons held; a refusal becomes the panel's notice unless
   * the page deals with it (a cancelled ``verify-refused``: the session ended, …). */
  async call(fn) {
    this.busy = true;
    this.render();
    try {
      await fn();
    } catch (err) {
      console.warn(err);
      const event = new CustomEvent("verify-refused", { detail: { error: err }, cancelable: true });
      if (this.dispatchEvent(event)) await this.refused(err);
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
    if (code === "verifier_unavailable") {
      // The checker could not judge: no try counted, a new attempt may start at once.
      this.stopFace();
      this.attempt = null;
      this.status = { ...(this.status || {}), status: "ready" };
      this.notice = { key: "verify.face.unavailable", kind: "warning" };
      return;
    }
    if (code === "manual_review_required" && err.details?.reason === "no_reference") {
      this.stopFace();
      this.attempt = null;
      this.notice = { key: "verify.face.noReference", kind: "warning" };
      const status = await api("GET", this.statusPath).catch(() => null);
      if (status) this.apply(status);
      return;
    }
    if (code === "not_found" && this.attempt) {
      this.notice = { key: `${this.words}.expired`, kind: "warning" };
      this.attempt = null;
      if (this.config.askAgainAtOnce) await this.start({ keepNotice: true });
      else this.status = { ...(this.status || {}), status: "ready" };
      return;
    }
    if (this.ui.send) {
      // The photo's own refusals, in the words of its rules.
      if (code === "too_large") {
        if (err.details.limit) this.photoLimit = err.details.limit;
        this.notice = this.tooLarge(this.photo?.size || 0);
        return;
      }
      if (code === "unsupported_media_type") {
        this.notice = { key: `${this.words}.photo.type`, kind: "error" };
        return;
      }
      if (code === "invalid_input" && this.photo) {
        this.notice = { key: `${this.words}.photo.tooSmall`, kind: "error" };
        return;
      }
    }
    this.notice = { text: errorText(err, this.config.errors), kind: "error" };
    if (["manual_review_required", "conflict"].includes(code)) {
      // The server's state moved on (three failures, a photo sent, passed elsewhere).
      if (!this.config.conflictKeepsNotice) this.notice = null;
      const status = await api("GET", this.statusPath).catch(() => null);
      if (status) this.apply(status);
    }
  }

  // -- rendering ----------------------------------------------------------------------

  render() {
    if (!this.active) return;
    const { ui, busy, words } = this;
    const view = this.view;
    this.dataset.status = view;
    if (!this.config.hides) document.body.dataset.verify = view;
    const waitS = this.waitSeconds();
    if (ui.title) ui.title.textContent = t(`${words}.title`, { exam: this.title });

    const text = this.config.status(view, this);
    ui.status.hidden = !text;
    ui.status.textContent = text;
    ui.status.dataset.seconds = view === "waiting" ? String(waitS) : "";

    const notice = this.notice?.key === `${words}.rejected`
      ? { ...this.notice, params: { note: this.notice.note || t(`${words}.noNote`) } }
      : this.notice;
    showNotice(ui.notice, notice);

    ui.start.hidden = !["ready", "waiting"].includes(view);
    ui.start.disabled = busy || view !== "ready";
    ui.start.textContent = view === "waiting"
      ? t(`${words}.startIn`, { seconds: waitS }) : t(`${words}.start`);

    ui.form.hidden = view !== "answering";
    if (this.attempt) {
      const challenge = this.attempt.challenge || {};
      ui.prompt.textContent = pick(challenge.prompt) || t(`${words}.prompt`);
      if (challenge.length) ui.answer.maxLength = challenge.length;
      // The built-in check stands in for a face check: the page says so.
      ui["stand-in"].hidden = challenge.kind !== "id_number_suffix";
    }
    const face = this.faceKind;
    ui.answer.closest(".field").hidden = face;
    if (this.face) this.face.hidden = !face;
    ui.submit.textContent = face ? t("verify.face.begin") : t(`${words}.submit`);
    ui.submit.disabled = busy;
    ui.cancel.disabled = busy && !this.capturing;

    ui.review.hidden = view !== "manual_review";
    ui.photo.disabled = busy;
    if (ui.send) this.renderPhoto();
    ui.refresh.hidden = view !== "review_pending";
    ui.refresh.disabled = busy;
  }

  renderPhoto() {
    const { ui, busy, words } = this;
    ui.size.textContent = t(`${words}.photo.size`, { size: formatBytes(this.photoLimit) });
    const type = this.account()?.id_type;
    ui.what.textContent = t(`${words}.photo.what`, {
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
    ui.preview.alt = t(`${words}.photo.preview`);
    ui.send.disabled = busy;
  }
}

customElements.define("verify-panel", VerifyPanel);
