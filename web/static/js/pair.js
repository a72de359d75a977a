// 二机位: this phone as the second camera of an answer (M3.5), opened from the QR
// code the first device shows (/pair?token=...).
//
// 1. The same account as the first device must be logged in (else the login page,
//    which comes back here with the token).
// 2. The token is redeemed once (POST /api/pairing/redeem): this phone becomes the
//    second camera of that question's answer.
// 3. Rear camera (a switch for the others), preview, a `secondary` media session
//    with the pairing id and its offer (uplink.js).
// 4. Ready (就绪) → secondary_ready. The server records this phone with the first
//    device's take and stops it when the first device stops; Ready again per take.
//
// The page follows the server: secondary_state events of this pairing and the
// answer's take events. A reload resumes the same session (kept in sessionStorage);
// after the phone closed its camera, or another scan replaced it, a new scan joins.
// When the answer is submitted or closed, the phone's work is done and its camera goes
// off. <body data-state>: loading, error, camera, camera-error, connecting, connected,
// ready, recording, saving, stopped, replaced, done.

import { ApiError, api, loginUrl } from "./api.js";
import { $, ServerClock, clock, duration, holdScreen } from "./exam-common.js";
import { has, lang, setLang, t, translatePage } from "./i18n.js";
import {
  listCameras, mediaErrorKey, mediaSupport, openCameraAndMic, switchCamera,
} from "./media.js";
import {
  forget, redeem, refusal, remember, remembered, switchAccount,
} from "./pair-code.js";
import { SocketClient } from "./socketio.js";
import { ServerError, Uplink, request } from "./uplink.js";

const GUARDED = ["ready", "recording", "saving"]; // leaving the page asks first
const FINISHED = ["submitted", "closed"]; // the question's phases with nothing more to record
const RECHECK_AFTER_MS = 1500; // after a take is stored: an auto-submit question submits
const POLL_MS = 5000; // between takes: submitted on the first device meanwhile?
const POLLED = ["connected", "ready", "stopped", "camera-error"];

const ui = {
  loading: $("loading"), error: $("pair-error"), errorTitle: $("error-title"),
  errorText: $("error-text"), switchAccount: $("switch-account"), retry: $("retry"),
  pairFor: $("pair-for"), stage: $("stage"), preview: $("preview"), recBadge: $("rec-badge"),
  recLabel: $("rec-label"), recElapsed: $("rec-elapsed"), readyChip: $("ready-chip"),
  panel: $("panel"), badge: $("state-badge"), notice: $("notice"), message: $("message"),
  ready: $("ready"), retryCamera: $("retry-camera"), switchCamera: $("switch-camera"),
  stop: $("stop-camera"), connection: $("connection"),
  connText: document.querySelector(".conn-text"), dialog: $("confirm-dialog"),
};

const page = {
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

function render() {
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
  const conn = page.uplink ? page.uplink.state : "connecting";
  ui.connection.hidden = !camera;
  ui.connection.dataset.state = conn;
  ui.connText.textContent = t(`conn.${conn}`);
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

/** The recording time, four times a second (by the server's clock). */
function tick() {
  if (page.state !== "recording") return;
  const take = page.take;
  ui.recLabel.textContent = t(take?.purpose === "rehearsal" ? "pair.rec.rehearsal" : "pair.rec");
  const elapsed = take ? page.clock.now() - take.started_at : 0;
  ui.recElapsed.textContent = clock(elapsed, false);
  ui.recElapsed.dataset.seconds = String(Math.max(0, Math.floor(elapsed)));
}

function fitStage() {
  const video = ui.preview;
  if (video.videoWidth && video.videoHeight) {
    ui.stage.style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
  }
}

function notify(key, params = {}, kind = "error") {
  page.notice = key ? { key, params, kind } : null;
  render();
}

function fail(code, messageText = "") {
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

// -- the question ------------------------------------------------------------------------

function questionPath(suffix = "") {
  const { exam_id: examId, question_id: questionId } = page.pairing;
  return `/api/exams/${encodeURIComponent(examId)}/questions/${encodeURIComponent(questionId)}`
    + suffix;
}

/** The question (for the line at the top); once it is submitted or closed, the end. */
async function loadQuestion() {
  if (!page.pairing) return;
  try {
    page.question = await api("GET", questionPath());
  } catch (err) {
    console.warn(err); // the line at the top stays as it was
    return;
  }
  if (FINISHED.includes(page.question.question.phase) && !page.done && !page.saving) {
    page.done = true;
    forget();
    endCamera();
  }
  render();
}

// -- camera and connection -----------------------------------------------------------------

async function openCamera() {
  const unsupported = mediaSupport();
  if (unsupported) {
    page.cameraError = { key: unsupported, detail: "" };
    render();
    return;
  }
  page.cameraError = null;
  page.notice = null;
  render();
  for (const track of page.stream?.getTracks() || []) track.stop();
  let stream;
  try {
    stream = await openCameraAndMic("environment"); // the rear camera, where there is one
  } catch (err) {
    console.warn(err);
    page.cameraError = { key: mediaErrorKey(err), detail: err.name || String(err) };
    render();
    return;
  }
  page.stream = stream;
  ui.preview.srcObject = stream;
  listCameras().then((cameras) => {
    page.cameras = cameras;
    render();
  }).catch(() => {});
  if (page.uplink) {
    page.uplink.stream = stream;
    for (const track of stream.getTracks()) await page.uplink.replaceTrack(track);
  } else {
    page.uplink = new Uplink(page.socket, stream, onUplink, {
      role: "secondary", pairingId: page.pairing.pairing_id,
    });
    page.uplink.sessionId = page.pairing.session_id; // a reload: the same session
    page.uplink.start();
  }
  render();
}

async function nextCamera() {
  const current = page.stream?.getVideoTracks()[0]?.getSettings().deviceId;
  const i = page.cameras.findIndex((c) => c.deviceId === current);
  const next = page.cameras[(i + 1) % page.cameras.length];
  if (!next) return;
  page.switching = true;
  render();
  try {
    const track = await switchCamera(page.stream, next.deviceId);
    await page.uplink?.replaceTrack(track);
    page.notice = null;
  } catch (err) {
    console.warn(err);
    page.notice = { key: "err.switchCamera", params: {}, kind: "error" };
  }
  page.switching = false;
  render();
}

function onUplink(uplinkState, error) {
  if (uplinkState === "connected" && page.uplink.sessionId !== page.pairing.session_id) {
    page.pairing.session_id = page.uplink.sessionId;
    remember(page.pairing);
  }
  if (uplinkState === "connected") resync();
  // The session cannot be opened or taken back (the phone closed it, or it expired):
  // only a new scan joins again.
  if (uplinkState === "failed" && error instanceof ServerError
    && ["conflict", "not_found"].includes(error.code)) {
    endCamera();
    forget();
    fail("session_gone");
    return;
  }
  render();
}

/** The camera off and the session closed (what was recorded stays with the take). */
function endCamera() {
  for (const track of page.stream?.getTracks() || []) track.stop();
  page.stream = null;
  ui.preview.srcObject = null;
  const uplink = page.uplink;
  page.uplink = null;
  return Promise.resolve(uplink?.close());
}

// -- the server's side: the pairing and the takes ------------------------------------------

function mine(event) {
  return page.pairing && event.attempt_id === page.pairing.attempt_id;
}

function onLink(event) {
  if (!mine(event) || page.stopped || page.replaced) return;
  if (event.pairing_id !== page.pairing.pairing_id) {
    // A newer scan (another phone, or this one in another tab) is the second camera now.
    if (event.pairing_id && event.changed_at >= page.pairing.redeemed_at) {
      page.replaced = true;
      endCamera();
      forget();
      render();
    }
    return;
  }
  if (page.link?.changed_at != null && event.changed_at < page.link.changed_at) return; // stale
  if (event.state === "done") { // the answer was submitted or closed: nothing more to record
    if (!page.saving) {
      page.done = true;
      forget();
      endCamera();
    }
    render();
    return;
  }
  page.clock.sync(event.now);
  page.link = event;
  if (event.state === "recording" && event.take_id && page.take?.take_id !== event.take_id) {
    fetchTake(event.take_id); // joined a take already running: when did it start?
  }
  render();
}

async function fetchTake(takeId) {
  try {
    const take = await api("GET", `/api/takes/${encodeURIComponent(takeId)}`);
    if (take.state === "recording" && page.link?.take_id === takeId) {
      page.take = take;
      render();
    }
  } catch (err) {
    console.warn(err);
  }
}

function onTake(event, take) {
  if (!mine(take)) return;
  if (event === "take_started") {
    page.take = take;
    page.saving = false;
    notify(null);
  } else if (event === "take_stopped") {
    const withMe = page.state === "recording";
    page.take = null;
    page.saving = withMe;
    render();
  } else {
    page.saving = false;
    const camera = take.manifest?.cameras?.secondary;
    if (event === "take_stored" && camera?.segments?.length) {
      notify("pair.stored", { d: duration(camera.recorded_s ?? 0) }, "ok");
    } else {
      render();
    }
    setTimeout(loadQuestion, RECHECK_AFTER_MS); // submitted by itself (auto-submit)?
  }
}

/** After (re)connecting: the state of the pairing, since events sent meanwhile were lost. */
async function resync() {
  if (!page.pairing) return;
  try {
    const event = await api("GET", questionPath("/pairing"));
    onLink({ ...event, attempt_id: event.attempt_id ?? page.pairing.attempt_id });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) location.replace(loginUrl(true));
    else console.warn(err);
  }
}

async function tapReady() {
  page.busy = true;
  notify(null);
  try {
    const event = await request(page.socket, "secondary_ready",
      { session_id: page.uplink.sessionId });
    onLink(event);
  } catch (err) {
    console.warn(err);
    const key = err instanceof ServerError && err.code === "conflict" ? "pair.err.notYet"
      : "pair.err.ready";
    page.notice = { key, params: { message: err.message }, kind: "error" };
  }
  page.busy = false;
  render();
}

// -- stopping ------------------------------------------------------------------------------

function confirm(text) {
  return new Promise((resolve) => {
    $("confirm-text").textContent = text;
    ui.dialog.returnValue = "";
    ui.dialog.addEventListener("close", () => resolve(ui.dialog.returnValue === "ok"),
      { once: true });
    ui.dialog.showModal();
  });
}

async function stopCamera() {
  const recording = page.state === "recording";
  // M3.5: stopping the second camera while the first records leaves its video incomplete.
  const ok = await confirm(t(recording ? "pair.confirm.stopRecording" : "pair.confirm.stop"));
  if (!ok) return;
  page.stopped = true;
  forget();
  render();
  await endCamera();
  render();
}

// -- wiring --------------------------------------------------------------------------------

function wire() {
  $("lang-toggle").addEventListener("click", () => {
    setLang(lang() === "zh" ? "en" : "zh");
    render();
  });
  ui.ready.addEventListener("click", tapReady);
  ui.retryCamera.addEventListener("click", openCamera);
  ui.switchCamera.addEventListener("click", nextCamera);
  ui.stop.addEventListener("click", stopCamera);
  ui.switchAccount.addEventListener("click", switchAccount);
  ui.retry.addEventListener("click", () => location.reload());
  ui.preview.addEventListener("resize", fitStage);
  page.socket.on("secondary_state", onLink);
  for (const event of ["take_started", "take_stopped", "take_stored", "take_failed"]) {
    page.socket.on(event, (take) => onTake(event, take));
  }
  page.socket.on("connect", () => {
    resync();
    loadQuestion();
  });
  page.socket.on("connect_error", resync); // a 401 goes to the login page
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    loadQuestion();
    if (page.releaseScreen) {
      // The browser drops the wake lock (and may stop the camera) while the page is hidden.
      page.releaseScreen = null;
      render();
    }
    const ended = page.stream?.getTracks().some((track) => track.readyState === "ended");
    if (ended && !page.stopped && !page.replaced) openCamera();
  });
  setInterval(tick, 250);
  setInterval(() => {
    if (POLLED.includes(page.state) && document.visibilityState === "visible") loadQuestion();
  }, POLL_MS);
}

async function main() {
  translatePage();
  wire();
  render();
  const token = new URLSearchParams(location.search).get("token");
  if (token) {
    let paired;
    try {
      paired = await redeem(token);
    } catch (err) {
      fail(err instanceof ApiError ? err.code : "other", err.message);
      return;
    }
    if (!paired) return; // to the login page
    page.clock.sync(paired.now);
    page.pairing = { ...paired, session_id: null };
    remember(page.pairing);
  } else {
    page.pairing = remembered();
    if (!page.pairing) {
      fail("no_token");
      return;
    }
  }
  await loadQuestion();
  if (!page.done) await openCamera();
}

main();
