// The device check (调试设备): preview camera and microphone, record a test take
// on the server, play it back with sound, record again, finish.
//
// States (also on <body data-state>, which the tests read):
//   starting → preview → recording → saving → review → done, and blocked when
//   the camera cannot be opened.
//
// Only a logged-in candidate may record: without a session (at the start, or
// when the server refuses the socket because it ended) the page goes to the
// login page, which comes back here. "Finish" records the step on the server.

import { ApiError, api, logOut, loginUrl } from "./api.js";
import { has, lang, onLangChange, setLang, t, translatePage } from "./i18n.js";
import {
  LevelMeter, listCameras, mediaErrorKey, mediaSupport, openCameraAndMic, switchCamera,
} from "./media.js";
import { TakePlayer } from "./playback.js";
import { SocketClient, SocketError } from "./socketio.js";
import { ServerError, Uplink, request } from "./uplink.js";

const DONE_KEY = "examcast.deviceCheck";
const STOP_TIMEOUT_MS = 60000; // stopping closes, syncs and hashes the files

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const ui = {
  stage: document.querySelector(".stage"), preview: $("preview"), playback: $("playback"),
  recBadge: $("rec-badge"), elapsed: $("elapsed"), notice: $("notice"), message: $("message"),
  devices: $("devices"),
  cameraSelect: $("camera-select"), switchCamera: $("switch-camera"), meter: $("mic-level"),
  meterFill: document.querySelector(".meter-fill"), micHint: $("mic-hint"),
  takeInfo: $("take-info"), connection: $("connection"),
  connText: document.querySelector(".conn-text"), lang: $("lang-toggle"),
  start: $("start-recording"), stop: $("stop-recording"), playBack: $("play-back"),
  recordAgain: $("record-again"), finish: $("finish"), retry: $("retry"),
  checkAgain: $("check-again"), continueJourney: $("continue-journey"),
  steps: document.querySelectorAll("[data-step]"),
  account: $("account"), accountName: $("account-name"), logOut: $("log-out"),
};

const page = {
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

function render() {
  const { state } = page;
  document.body.dataset.state = state;
  const live = ["preview", "recording", "saving"].includes(state);
  ui.stage.hidden = state === "blocked" || state === "done";
  ui.preview.hidden = !live && state !== "starting";
  ui.playback.hidden = state !== "review";
  ui.recBadge.hidden = state !== "recording";
  ui.devices.hidden = !["preview", "recording"].includes(state);
  ui.takeInfo.hidden = state !== "review";
  fitStage();

  const connected = page.uplink?.state === "connected";
  ui.start.hidden = state !== "preview";
  ui.start.disabled = !connected || page.busy;
  ui.stop.hidden = state !== "recording";
  ui.stop.disabled = page.busy;
  for (const button of [ui.playBack, ui.recordAgain, ui.finish]) button.hidden = state !== "review";
  ui.recordAgain.disabled = !connected || page.busy;
  ui.finish.disabled = !page.played || page.busy;
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
  const conn = page.uplink ? page.uplink.state : "connecting";
  ui.connection.dataset.state = conn;
  ui.connection.hidden = state === "blocked" || state === "done";
  ui.connText.textContent = t(`conn.${conn}`);
  ui.account.hidden = !page.me;
  if (page.me) ui.accountName.textContent = t("account.who", { name: page.me.name });
  ui.logOut.hidden = ["recording", "saving"].includes(state) || page.finishing;
}

// The stage takes the shape of the video it shows (a phone's camera may be portrait).
function fitStage() {
  const video = ui.playback.hidden ? ui.preview : ui.playback;
  if (video.videoWidth && video.videoHeight) {
    ui.stage.style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
  }
}

function setState(state) {
  page.state = state;
  render();
}

function notify(key, params = {}, kind = "error", source = "page") {
  page.notice = { key, params, kind, source };
  render();
}

function clearNotice(source = null) {
  if (page.notice && (source === null || page.notice.source === source)) page.notice = null;
  render();
}

function notifyError(err, source = "page") {
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

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

// -- camera and microphone --------------------------------------------------------------

async function openMedia() {
  setState("starting");
  for (const track of page.stream?.getTracks() || []) track.stop();
  try {
    page.stream = await openCameraAndMic();
  } catch (err) {
    console.warn(err);
    notify(mediaErrorKey(err), { detail: err.name || String(err) });
    setState("blocked");
    return;
  }
  ui.preview.srcObject = page.stream;
  for (const track of page.stream.getTracks()) watchTrack(track);
  const [audio] = page.stream.getAudioTracks();
  page.meter?.stop();
  page.meter = new LevelMeter(audio, showLevel);
  if (page.meter.suspended) {
    const wake = () => page.meter.resume().then(render);
    document.addEventListener("pointerdown", wake, { once: true });
  }
  await refreshCameras();
  setState("preview");
  if (page.uplink) {
    // Devices reopened after they went away: send the new tracks.
    page.uplink.stream = page.stream;
    for (const track of page.stream.getTracks()) await page.uplink.replaceTrack(track);
  } else {
    page.uplink = new Uplink(page.socket, page.stream, onUplinkState);
    page.uplink.start();
  }
}

function showLevel(level) {
  const percent = Math.round(level * 100);
  ui.meterFill.style.width = `${percent}%`;
  ui.meter.dataset.level = level.toFixed(2);
  ui.meter.setAttribute("aria-valuenow", String(percent));
}

function watchTrack(track) {
  // "ended" fires when a device goes away, not when this page stops a track.
  track.addEventListener("ended", () => {
    notify("err.trackEnded");
    if (page.state === "preview") setState("blocked");
  });
}

async function refreshCameras() {
  page.cameras = await listCameras();
  const track = page.stream?.getVideoTracks()[0];
  const current = track?.getSettings().deviceId;
  ui.cameraSelect.replaceChildren(...page.cameras.map((camera, i) => new Option(
    camera.label || t("camera.unnamed", { n: i + 1 }), camera.deviceId, false,
    camera.deviceId === current,
  )));
  render();
}

async function chooseCamera(deviceId) {
  page.busy = true;
  render();
  try {
    const track = await switchCamera(page.stream, deviceId);
    watchTrack(track);
    ui.preview.srcObject = page.stream;
    if (page.uplink) await page.uplink.replaceTrack(track);
    clearNotice();
  } catch (err) {
    console.warn(err);
    notify("err.switchCamera");
  } finally {
    page.busy = false;
    await refreshCameras();
  }
}

function nextCamera() {
  const ids = page.cameras.map((c) => c.deviceId);
  const next = ids[(ids.indexOf(ui.cameraSelect.value) + 1) % ids.length];
  if (next) chooseCamera(next);
}

function onUplinkState(state, error) {
  if (state === "connected") clearNotice("uplink");
  if (state === "failed" && error) notifyError(error, "uplink");
  render();
}

// -- recording --------------------------------------------------------------------------

function warnOnLeave(event) {
  event.preventDefault();
  event.returnValue = ""; // older browsers need it set
}

async function holdWakeLock() {
  if (!("wakeLock" in navigator)) return;
  try {
    page.wakeLock = await navigator.wakeLock.request("screen");
  } catch {
    page.wakeLock = null; // refused (battery saver, hidden page): recording goes on
  }
}

async function startRecording() {
  clearNotice();
  page.busy = true;
  render();
  try {
    page.take = await request(page.socket, "start_take", {
      session_id: page.uplink.sessionId, purpose: "device_check",
    });
  } catch (err) {
    notifyError(err);
    setState("preview");
    return;
  } finally {
    page.busy = false;
  }
  page.startedAt = performance.now();
  tick();
  resumeRecording();
}

function tick() {
  const elapsed = (performance.now() - page.startedAt) / 1000;
  const { deadline, started_at: startedAt } = page.take;
  const limit = deadline ? ` / ${clock(deadline - startedAt)}` : "";
  ui.elapsed.textContent = clock(elapsed) + limit;
  ui.elapsed.dataset.seconds = String(Math.floor(elapsed));
}

function leaveRecording() {
  clearInterval(page.ticker);
  removeEventListener("beforeunload", warnOnLeave);
  if (page.wakeLock) page.wakeLock.release().catch(() => {});
  page.wakeLock = null;
}

async function stopRecording() {
  leaveRecording();
  setState("saving");
  try {
    showTake(await request(page.socket, "stop_take", { take_id: page.take.take_id },
      STOP_TIMEOUT_MS));
  } catch (err) {
    if (err instanceof ServerError && err.code === "conflict") {
      // The server had stopped it already (time limit); its take_stored event tells the rest.
      await fetchTake();
    } else if (err instanceof SocketError && err.code === "disconnected") {
      // Still recording on the server, as far as we know; reconnecting asks (fetchTake).
      notify("err.stopFailed");
      resumeRecording();
    } else if (err instanceof SocketError) {
      notifyError(err); // no answer yet: the take_stored event may still come
      await fetchTake();
    } else {
      notifyError(err);
      setState("preview");
    }
  }
}

function resumeRecording() {
  addEventListener("beforeunload", warnOnLeave);
  holdWakeLock();
  page.ticker = setInterval(tick, 250);
  setState("recording");
}

async function fetchTake() {
  try {
    const response = await fetch(`/api/takes/${encodeURIComponent(page.take.take_id)}`);
    if (response.status === 401) toLogin();
    if (!response.ok) return;
    const take = await response.json();
    if (take.state === "stored") showTake(take);
    else if (take.state === "failed") takeFailed(take);
    else if (take.state === "finalizing") takeStopped(take);
  } catch (err) {
    console.warn(err); // offline: the next reconnect asks again
  }
}

function isCurrent(take) {
  return page.take && take.take_id === page.take.take_id
    && ["recording", "saving"].includes(page.state);
}

function stopReasonNotice(take) {
  const reason = take.stop_reason;
  if (!reason || reason === "stopped") return;
  const known = ["time_limit", "connection_lost", "server_restart"].includes(reason);
  const limit = take.deadline ? clock(take.deadline - take.started_at) : "";
  notify(known ? `stop.${reason}` : "stop.other", { reason, limit }, "warning");
}

function takeStopped(take) {
  if (!isCurrent(take) || page.state !== "recording") return;
  leaveRecording();
  page.take = take;
  stopReasonNotice(take);
  setState("saving");
}

function takeFailed(take) {
  if (!isCurrent(take)) return;
  leaveRecording();
  notify("err.takeFailed");
  setState("preview");
}

// -- playback ---------------------------------------------------------------------------

function showTake(take) {
  if (!isCurrent(take)) return; // already shown (the event and the ack both carry it)
  leaveRecording();
  page.take = take;
  stopReasonNotice(take);
  const streams = (take.manifest.segments || []).flatMap((s) => s.streams || []);
  const video = streams.find((s) => s.kind === "video" && s.frames > 0);
  const audio = streams.find((s) => s.kind === "audio" && s.frames > 0);
  ui.takeInfo.textContent = t("take.info", {
    seconds: (take.manifest.recorded_s ?? 0).toFixed(1),
    width: video?.width ?? "?", height: video?.height ?? "?",
  });
  if (!video) notify("take.noVideo", {}, "warning");
  else if (!audio) notify("take.noAudio", {}, "warning");
  page.player.load(take);
  setState("review");
}

function playBack() {
  page.player.playFromStart().catch((err) => console.warn(err));
}

function playedToTheEnd() {
  page.played = true;
  render();
}

function recordAgain() {
  page.player.pause();
  setState("preview");
  startRecording();
}

async function finish() {
  page.busy = true;
  page.finishing = true;
  clearNotice();
  let outcome = { key: "finish.recorded", params: {}, kind: "ok" };
  try {
    await api("POST", "/api/admission/device-check", { take_id: page.take.take_id });
  } catch (err) {
    console.warn(err);
    if (err.status === 401) return toLogin();
    if (err.code !== "step_required") {
      page.busy = false;
      page.finishing = false;
      if (err.code === "network") notify("finish.offline");
      else notify("finish.failed", { message: err.message });
      return;
    }
    // The devices work; the admission steps before this one are not done yet.
    const step = err.details.step;
    const what = has(`journey.${step}`) ? t(`journey.${step}`) : err.message;
    outcome = { key: "finish.stepRequired", params: { step: what }, kind: "info" };
  }
  try {
    localStorage.setItem(DONE_KEY, JSON.stringify({
      take_id: page.take.take_id, finished_at: new Date().toISOString(),
    }));
  } catch {
    // storage blocked: the server keeps the take
  }
  page.busy = false;
  page.finishing = false;
  page.player.pause();
  page.meter?.stop();
  page.meter = null;
  for (const track of page.stream.getTracks()) track.stop();
  page.notice = { ...outcome, source: "finish" };
  setState("done");
  await page.uplink.close();
  page.socket.close();
}

// -- the session ------------------------------------------------------------------------

/** To the login page, which brings the candidate back here. */
function toLogin(ended = true) {
  leaveRecording(); // no "leave this page?" question: the server refuses us anyway
  location.replace(loginUrl(ended));
}

/** Who is logged in; false when the page is on its way to the login page. */
async function checkSession() {
  try {
    page.me = (await api("GET", "/api/me")).account;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      toLogin(page.me !== null); // logged in before: the session has ended
      return false;
    }
    // Offline or the server failing: the connection status says so and keeps retrying.
    console.warn(err);
  }
  render();
  return true;
}

// The server refused the socket: the session has ended (log-out elsewhere, expiry),
// unless the account is still logged in and something else is wrong.
async function onRefused(error) {
  console.warn(error);
  if (await checkSession()) notify("err.refused");
}

async function leave(event) {
  event.preventDefault();
  try {
    await logOut();
  } catch (err) {
    if (err.code === "network") {
      notify("err.network");
      return;
    }
  }
  toLogin(false);
}

// -- wiring -----------------------------------------------------------------------------

function wire() {
  ui.lang.addEventListener("click", () => setLang(lang() === "zh" ? "en" : "zh"));
  onLangChange(() => refreshCameras());
  ui.retry.addEventListener("click", () => {
    clearNotice();
    openMedia();
  });
  ui.checkAgain.addEventListener("click", () => location.reload());
  ui.cameraSelect.addEventListener("change", () => chooseCamera(ui.cameraSelect.value));
  ui.switchCamera.addEventListener("click", nextCamera);
  ui.start.addEventListener("click", startRecording);
  ui.stop.addEventListener("click", stopRecording);
  ui.playBack.addEventListener("click", playBack);
  ui.recordAgain.addEventListener("click", recordAgain);
  ui.finish.addEventListener("click", finish);
  ui.logOut.addEventListener("click", leave);
  for (const video of [ui.preview, ui.playback]) video.addEventListener("resize", fitStage);
  ui.playback.addEventListener("error", () => notify("err.playback"));
  page.socket.on("take_stopped", takeStopped);
  page.socket.on("take_stored", showTake);
  page.socket.on("take_failed", takeFailed);
  page.socket.on("connect_error", onRefused);
  // Events sent while the connection was down are lost: ask how the take is doing.
  page.socket.on("connect", () => {
    if (page.take && ["recording", "saving"].includes(page.state)) fetchTake();
  });
  navigator.mediaDevices?.addEventListener("devicechange", refreshCameras);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && page.state === "recording") holdWakeLock();
  });
}

async function main() {
  page.player = new TakePlayer(ui.playback, playedToTheEnd);
  translatePage();
  render();
  if (!(await checkSession())) return;
  wire();
  try {
    if (localStorage.getItem(DONE_KEY)) notify("msg.doneBefore", {}, "info");
  } catch {
    // storage blocked: nothing remembered
  }
  const unsupported = mediaSupport();
  if (unsupported) {
    notify(unsupported);
    setState("blocked");
    return;
  }
  openMedia();
}

main();
