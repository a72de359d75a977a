// The device check's test take: start and stop it on the server (start_take /
// stop_take), follow it (take_stopped / take_stored / take_failed events, or
// GET /api/takes/<id> after a reconnect), play it back, record again, and finish
// (POST /api/admission/device-check). While recording, leaving the page asks
// first and the screen stays on.

import { api, loginUrl } from "../../lib/api.js";
import { has, t } from "../../lib/i18n.js";
import { SocketError } from "../../lib/socketio.js";
import { ServerError, request } from "../../lib/uplink.js";
import { ServerClock } from "../../lib/clock.js";
import { CopyFollower } from "../../lib/local-copy.js";
import {
  clearNotice, clock, notify, notifyError, page, render, setState, ui,
} from "./page.js";
import { followReceived, stopReceived } from "./received.js";

export const DONE_KEY = "examcast.deviceCheck";
const STOP_TIMEOUT_MS = 60000; // stopping closes, syncs and hashes the files
// The local copy (lib/local-copy.js) of the test take, on the server's clock (round trips).
const copy = new CopyFollower({
  camera: "primary", clock: new ServerClock(),
  fetchNow: () => request(page.socket, "time", {}, 2000).then((r) => r.now),
  onStopped: () => notify("copy.full", {}, "warning"),
});

// -- recording --------------------------------------------------------------------------

function warnOnLeave(event) {
  event.preventDefault();
  event.returnValue = ""; // older browsers need it set
}

export async function holdWakeLock() {
  if (!("wakeLock" in navigator)) return;
  try {
    page.wakeLock = await navigator.wakeLock.request("screen");
  } catch {
    page.wakeLock = null; // refused (battery saver, hidden page): recording goes on
  }
}

export async function startRecording() {
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
  page.shownSeconds = 0;
  copy.follow(page.take.take_id, page.stream);
  followReceived(page.socket, page.uplink.sessionId);
  tick();
  resumeRecording();
}

// What the server holds of the take (its heartbeat's figure: a drop is not counted), or
// the time since the start until it has said.
function tick() {
  const { deadline, started_at: startedAt, take_id: takeId } = page.take;
  const recorded = page.uplink?.recordedNow(takeId);
  const guess = recorded ?? (performance.now() - page.startedAt) / 1000;
  const elapsed = Math.max(page.shownSeconds || 0, guess); // never counts back
  page.shownSeconds = elapsed;
  const limit = deadline ? ` / ${clock(deadline - startedAt)}` : "";
  ui.elapsed.textContent = clock(elapsed) + limit;
  ui.elapsed.dataset.seconds = String(Math.floor(elapsed));
  if (page.uplink?.drop) render(); // the connection line counts the drop
}

function forgetCopy(takeId) {
  if (takeId) copy.open().then((local) => local?.confirm(takeId)).catch(console.warn);
}

function leaveRecording() {
  copy.follow(null);
  stopReceived();
  clearInterval(page.ticker);
  removeEventListener("beforeunload", warnOnLeave);
  if (page.wakeLock) page.wakeLock.release().catch(() => {});
  page.wakeLock = null;
}

export async function stopRecording() {
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

export async function fetchTake() {
  try {
    const take = await api("GET", `/api/takes/${encodeURIComponent(page.take.take_id)}`);
    if (take.state === "stored") showTake(take);
    else if (take.state === "failed") takeFailed(take);
    else if (take.state === "finalizing") takeStopped(take);
  } catch (err) {
    if (err.status === 401) toLogin();
    else console.warn(err); // offline: the next reconnect asks again
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

export function takeStopped(take) {
  if (!isCurrent(take) || page.state !== "recording") return;
  leaveRecording();
  page.take = take;
  stopReasonNotice(take);
  setState("saving");
}

export function takeFailed(take) {
  if (!isCurrent(take)) return;
  leaveRecording();
  notify("err.takeFailed");
  setState("preview");
}

// -- playback ---------------------------------------------------------------------------

export function showTake(take) {
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

export function playBack() {
  page.player.playFromStart().catch((err) => console.warn(err));
}

export function playedToTheEnd() {
  page.played = true;
  render();
}

export function recordAgain() {
  forgetCopy(page.take?.take_id); // that test take is done with
  page.player.pause();
  setState("preview");
  startRecording();
}

export async function finish() {
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
  forgetCopy(page.take.take_id);
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

// -- leaving for the login page ----------------------------------------------------------

/** To the login page, which brings the candidate back here. */
export function toLogin(ended = true) {
  leaveRecording(); // no "leave this page?" question: the server refuses us anyway
  location.replace(loginUrl(ended));
}
