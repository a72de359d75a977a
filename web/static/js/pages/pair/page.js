// The second camera's page (see pair.js): its state (<body data-state>), the
// elements and what they show, the notice, the recording time, and while the
// camera is in use: asking before leaving, keeping the screen on.

import { clock, holdScreen } from "../../lib/candidate-page.js";
import { has, t } from "../../lib/i18n.js";
import { refusal } from "./code.js";
import { SocketClient } from "../../lib/socketio.js";
import { $ } from "../../lib/dom.js";
import { ServerClock } from "../../lib/clock.js";
import { renderLink } from "../../lib/link-status.js";

const GUARDED = ["ready", "recording", "saving"]; // leaving the page asks first

export const ui = {
  loading: $("loading"), error: $("pair-error"), errorTitle: $("error-title"),
  errorText: $("error-text"), switchAccount: $("switch-account"), retry: $("retry"),
  pairFor: $("pair-for"), stage: $("stage"), preview: $("preview"), recBadge: $("rec-badge"),
  recLabel: $("rec-label"), recElapsed: $("rec-elapsed"), readyChip: $("ready-chip"),
  panel: $("panel"), badge: $("state-badge"), notice: $("notice"), message: $("message"),
  ready: $("ready"), retryCamera: $("retry-camera"), switchCamera: $("switch-camera"),
  stop: $("stop-camera"), connection: $("connection"),
  connText: document.querySelector(".conn-text"), reconnect: $("reconnect-now"),
  dialog: $("confirm-dialog"),
};

export const page = {
  state: "loading",
  pairing: null, // {pairing_id, exam_id, question_id, attempt_id, redeemed_at, session_id}
  question: null, // the question's page (title, order, exam) for the line at the top
  error: null, // {code, message}: the code cannot be used
  notice: null, // {key, params, kind}
  stream: null,
  cameraError: null,
  cameras: [],
  switching: false,
  socket: new SocketClient(),
  uplink: null,
  link: null, // the last secondary_state of this pairing
  take: null, // the answer's take recording now (summary)
  saving: false, // the first device stopped; this phone's part is being stored
  stopped: false, // this phone closed its camera
  replaced: false, // a newer scan took over
  done: false, // the answer was submitted or closed
  busy: false,
  clock: new ServerClock(),
  guarded: false,
  releaseScreen: null,
};

// -- what the page shows ------------------------------------------------------------------

function state() {
  if (page.error) return "error";
  if (page.replaced) return "replaced";
  if (page.done) return "done";
  if (page.stopped) return "stopped";
  if (!page.pairing) return "loading";
  if (page.cameraError) return "camera-error";
  if (!page.stream) return "camera";
  const link = page.link?.state;
  if (link === "recording") return "recording";
  if (page.saving) return "saving";
  if (page.uplink?.state !== "connected") return "connecting";
  if (link === "ready" || link === "connected") return link;
  return "connecting"; // paired, lost: the server does not have the picture (yet)
}

function message(st) {
  switch (st) {
    case "camera-error":
      return t(page.cameraError.key, { detail: page.cameraError.detail });
    case "connecting":
      return t(["reconnecting", "failed"].includes(page.uplink?.state) ? "pair.msg.reconnecting"
        : "pair.msg.connecting");
    case "connected":
      if (page.link?.take_id) return t("pair.msg.joinNow"); // the first device records already
      return t(page.link?.reason === "take_stopped" ? "pair.msg.again" : "pair.msg.connected");
    default:
      return t(`pair.msg.${st}`);
  }
}

export function render() {
  const st = state();
  page.state = st;
  document.body.dataset.state = st;
  ui.loading.hidden = st !== "loading";
  ui.error.hidden = st !== "error";
  if (page.error) renderError();

  const q = page.question;
  ui.pairFor.hidden = !q || st === "error";
  if (q) {
    ui.pairFor.textContent = t("pair.for", {
      exam: q.exam.title, n: q.question.order, title: q.question.title,
    });
  }
  const camera = Boolean(page.stream) && !["error", "stopped", "replaced", "done"].includes(st);
  ui.stage.hidden = !camera;
  ui.panel.hidden = ["loading", "error"].includes(st);
  ui.badge.hidden = !has(`pair.state.${st}`);
  ui.badge.textContent = t(`pair.state.${st}`);
  ui.badge.dataset.kind = { recording: "recording", ready: "ok", connected: "info",
    stopped: "closed", replaced: "closed", saving: "info", done: "ok" }[st] || "";
  ui.message.textContent = message(st);
  ui.notice.hidden = !page.notice;
  if (page.notice) {
    ui.notice.textContent = t(page.notice.key, page.notice.params);
    ui.notice.dataset.kind = page.notice.kind;
  }
  ui.recBadge.hidden = st !== "recording";
  ui.readyChip.hidden = st !== "ready";
  ui.ready.hidden = st !== "connected";
  ui.ready.disabled = page.busy;
  ui.retryCamera.hidden = st !== "camera-error";
  ui.switchCamera.hidden = !camera || page.cameras.length < 2;
  ui.switchCamera.disabled = page.switching;
  ui.stop.hidden = !camera && st !== "camera-error";
  ui.connection.hidden = !camera;
  renderLink({ line: ui.connection, text: ui.connText, retry: ui.reconnect }, page.uplink);
  guard(GUARDED.includes(st));
  holdAwake(camera);
  tick();
}

function renderError() {
  const shown = refusal(page.error.code);
  ui.error.dataset.code = page.error.code;
  ui.errorTitle.textContent = t(shown.title);
  ui.errorText.textContent = t(shown.text, { message: page.error.message });
  ui.switchAccount.hidden = !shown.switchAccount;
  ui.retry.hidden = !shown.retry;
}

/** The recording time, four times a second: what the server holds of this camera (its
 * heartbeat's figure: a drop is not counted), the server's clock until it has said. */
export function tick() {
  if (page.uplink?.drop || page.uplink?.lastDrop) {
    renderLink({ line: ui.connection, text: ui.connText, retry: ui.reconnect }, page.uplink);
  }
  if (page.state !== "recording") return;
  const take = page.take;
  ui.recLabel.textContent = t(take?.purpose === "rehearsal" ? "pair.rec.rehearsal" : "pair.rec");
  const recorded = take ? page.uplink?.recordedNow(take.take_id) : null;
  const guess = recorded ?? (take ? page.clock.now() - take.started_at : 0);
  const shown = page.shownRecording;
  const elapsed = take && shown?.takeId === take.take_id ? Math.max(shown.seconds, guess) : guess;
  page.shownRecording = take ? { takeId: take.take_id, seconds: elapsed } : null;
  ui.recElapsed.textContent = clock(elapsed, false);
  ui.recElapsed.dataset.seconds = String(Math.max(0, Math.floor(elapsed)));
}

export function fitStage() {
  const video = ui.preview;
  if (video.videoWidth && video.videoHeight) {
    ui.stage.style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
  }
}

export function notify(key, params = {}, kind = "error") {
  page.notice = key ? { key, params, kind } : null;
  render();
}

export function fail(code, messageText = "") {
  page.error = { code, message: messageText };
  render();
}

// -- leaving, the screen -------------------------------------------------------------------

function warnOnLeave(event) {
  event.preventDefault();
  event.returnValue = ""; // older browsers need it set
}

function guard(on) {
  if (on === page.guarded) return;
  page.guarded = on;
  if (on) addEventListener("beforeunload", warnOnLeave);
  else removeEventListener("beforeunload", warnOnLeave);
}

/** The screen stays on while the camera is in use: a phone standing still would sleep. */
async function holdAwake(on) {
  if (on && !page.releaseScreen) {
    page.releaseScreen = () => {}; // asked already
    const release = await holdScreen();
    if (page.releaseScreen) page.releaseScreen = release;
    else release(); // ended meanwhile
  } else if (!on && page.releaseScreen) {
    const release = page.releaseScreen;
    page.releaseScreen = null;
    release();
  }
}
