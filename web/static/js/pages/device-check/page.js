// The device check's page (see device-check.js): its state, the elements, what
// they show for each state (render), the notice and the clock shown while recording.

import { clock as formatClock } from "../../lib/format.js";
import { t } from "../../lib/i18n.js";
import { SocketClient, SocketError } from "../../lib/socketio.js";
import { ServerError } from "../../lib/uplink.js";
import { renderLink } from "../../lib/link-status.js";
import { $ } from "../../lib/dom.js";
import { renderReceived } from "./received.js";

export const ui = {
  stage: document.querySelector(".stage"), preview: $("preview"), playback: $("playback"),
  recBadge: $("rec-badge"), elapsed: $("elapsed"), notice: $("notice"), message: $("message"),
  devices: $("devices"),
  cameraSelect: $("camera-select"), switchCamera: $("switch-camera"), meter: $("mic-level"),
  meterFill: document.querySelector(".meter-fill"), micHint: $("mic-hint"),
  takeInfo: $("take-info"), connection: $("connection"),
  connText: document.querySelector(".conn-text"), reconnect: $("reconnect-now"),
  lang: $("lang-toggle"),
  start: $("start-recording"), stop: $("stop-recording"), playBack: $("play-back"),
  recordAgain: $("record-again"), finish: $("finish"), finishHint: $("finish-hint"),
  retry: $("retry"),
  checkAgain: $("check-again"), continueJourney: $("continue-journey"),
  steps: document.querySelectorAll("[data-step]"),
  account: $("account"), accountName: $("account-name"), logOut: $("log-out"),
};

export const page = {
  state: "starting",
  busy: false, // a call to the server is under way
  stream: null,
  meter: null,
  socket: new SocketClient(),
  uplink: null,
  cameras: [],
  take: null, // summary of the take being recorded or reviewed
  startedAt: 0,
  ticker: null,
  wakeLock: null,
  player: null, // TakePlayer on the playback element
  played: false, // a take has been played back to its end: finishing is allowed
  finishing: false, // "finish" is being recorded on the server
  me: null, // the logged-in account
  notice: null, // {key, params, kind, source}
};

// -- rendering --------------------------------------------------------------------------

const STEP_OF = {
  starting: "preview", blocked: "preview", preview: "record", recording: "record",
  saving: "record", review: "playback", done: "finish",
};

function instructionKey() {
  switch (page.state) {
    case "starting": return "msg.askPermission";
    case "preview": return page.uplink?.state === "connected" ? "msg.ready" : "msg.waitServer";
    case "recording": return "msg.recording";
    case "saving": return "msg.saving";
    case "review":
      if (page.finishing) return "msg.finishing";
      return page.played ? "msg.reviewed" : "msg.review";
    case "done": return "msg.done";
    default: return null;
  }
}

export function render() {
  const { state } = page;
  document.body.dataset.state = state;
  const live = ["preview", "recording", "saving"].includes(state);
  ui.stage.hidden = state === "blocked" || state === "done";
  ui.preview.hidden = !live && state !== "starting";
  ui.playback.hidden = state !== "review";
  ui.recBadge.hidden = state !== "recording";
  ui.devices.hidden = !["preview", "recording"].includes(state);
  ui.takeInfo.hidden = state !== "review";
  renderReceived(undefined, ["recording", "saving", "review"].includes(state));
  fitStage();

  const connected = page.uplink?.state === "connected";
  ui.start.hidden = state !== "preview";
  ui.start.disabled = !connected || page.busy;
  ui.stop.hidden = state !== "recording";
  ui.stop.disabled = page.busy;
  for (const button of [ui.playBack, ui.recordAgain, ui.finish]) button.hidden = state !== "review";
  ui.recordAgain.disabled = !connected || page.busy;
  ui.finish.disabled = !page.played || page.busy;
  ui.finishHint.hidden = state !== "review" || page.played;
  ui.retry.hidden = state !== "blocked";
  ui.checkAgain.hidden = state !== "done";
  ui.continueJourney.hidden = state !== "done"; // back to the admission steps
  const switching = page.busy && ["preview", "recording"].includes(state);
  ui.cameraSelect.disabled = page.cameras.length < 2 || switching;
  ui.switchCamera.hidden = page.cameras.length < 2;
  ui.switchCamera.disabled = switching;
  ui.micHint.textContent = t(page.meter?.suspended ? "mic.tap" : "mic.hint");

  const step = STEP_OF[state];
  const order = ["preview", "record", "playback", "finish"];
  for (const li of ui.steps) {
    const relation = Math.sign(order.indexOf(li.dataset.step) - order.indexOf(step));
    li.dataset.progress = ["done", "current", "todo"][relation + 1];
    if (relation === 0) li.setAttribute("aria-current", "step");
    else li.removeAttribute("aria-current");
  }

  const key = instructionKey();
  ui.message.hidden = !key;
  ui.message.textContent = key ? t(key) : "";
  ui.notice.hidden = !page.notice;
  if (page.notice) {
    ui.notice.textContent = t(page.notice.key, page.notice.params);
    ui.notice.dataset.kind = page.notice.kind;
  }
  ui.connection.hidden = state === "blocked" || state === "done";
  renderLink({ line: ui.connection, text: ui.connText, retry: ui.reconnect }, page.uplink);
  ui.account.hidden = !page.me;
  if (page.me) ui.accountName.textContent = t("account.who", { name: page.me.name });
  ui.logOut.hidden = ["recording", "saving"].includes(state) || page.finishing;
}

// The stage takes the shape of the video it shows (a phone's camera may be portrait).
export function fitStage() {
  const video = ui.playback.hidden ? ui.preview : ui.playback;
  if (video.videoWidth && video.videoHeight) {
    ui.stage.style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
  }
}

export function setState(state) {
  page.state = state;
  render();
}

export function notify(key, params = {}, kind = "error", source = "page") {
  page.notice = { key, params, kind, source };
  render();
}

export function clearNotice(source = null) {
  if (page.notice && (source === null || page.notice.source === source)) page.notice = null;
  render();
}

export function notifyError(err, source = "page") {
  console.warn(err);
  if (err instanceof ServerError) {
    notify("err.server", { message: err.message }, "error", source);
  } else if (err instanceof SocketError) {
    const key = { timeout: "err.timeout", refused: "err.refused" }[err.code] || "err.offline";
    notify(key, {}, "error", source);
  } else {
    notify("err.connection", {}, "error", source);
  }
}

/** Elapsed recording time, ``mm:ss`` (format.js, as on every page). */
export function clock(seconds) {
  return formatClock(seconds, false);
}
