// The second camera at work: the question it records for (its line at the top, and
// the end once it is submitted or closed), this phone's camera and its `secondary`
// media session, and the server's side: this pairing's secondary_state, the
// answer's take events, GET .../pairing after a reconnect, and Ready
// (secondary_ready).

import { ApiError, api, loginUrl } from "../../lib/api.js";
import { duration } from "../../lib/candidate-page.js";
import {
  listCameras, mediaErrorKey, mediaSupport, openCameraAndMic, switchCamera,
} from "../../lib/media.js";
import { forget, remember } from "./code.js";
import { fail, notify, page, render, ui } from "./page.js";
import { ServerError, Uplink, request } from "../../lib/uplink.js";
import { Filler } from "../../lib/fill-upload.js";
import { CopyFollower } from "../../lib/local-copy.js";
import { copiedTake } from "./copied-take.js";

// The local copy (lib/local-copy.js) of the take this phone records now.
const copy = new CopyFollower({
  camera: "secondary", clock: page.clock, onStopped: () => notify("copy.full", {}, "warning"),
  onEnded: (takeId) => fills().afterStop(takeId),
});
function followCopy() {
  copy.follow(copiedTake(page.link, copy.takeId), page.stream);
}

// What the server missed of a take, sent from the phone's local copy (at load and after each
// reconnect, after each take, now and then while the copy holds stopped takes).
let filler = null;
function fills() {
  if (!filler) {
    filler = new Filler({ camera: "secondary" });
    filler.fromCopy();
  }
  return filler;
}

const FINISHED = ["submitted", "closed"]; // the question's phases with nothing more to record
const RECHECK_AFTER_MS = 1500; // after a take is stored: an auto-submit question submits

// -- the question ------------------------------------------------------------------------

function questionPath(suffix = "") {
  const { exam_id: examId, question_id: questionId } = page.pairing;
  return `/api/exams/${encodeURIComponent(examId)}/questions/${encodeURIComponent(questionId)}`
    + suffix;
}

/** The question (for the line at the top); once it is submitted or closed, the end. */
export async function loadQuestion() {
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

export async function openCamera() {
  fills();
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
  followCopy();
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
      role: "secondary", pairingId: page.pairing.pairing_id, onMedia: render,
    });
    page.uplink.sessionId = page.pairing.session_id; // a reload: the same session
    page.uplink.start();
  }
  render();
}

export async function nextCamera() {
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
export function endCamera() {
  for (const track of page.stream?.getTracks() || []) track.stop();
  page.stream = null;
  followCopy();
  ui.preview.srcObject = null;
  const uplink = page.uplink;
  page.uplink = null;
  return Promise.resolve(uplink?.close());
}

// -- the server's side: the pairing and the takes ------------------------------------------

function mine(event) {
  return page.pairing && event.attempt_id === page.pairing.attempt_id;
}

export function onLink(event) {
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
  followCopy();
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

export function onTake(event, take) {
  if (!mine(take)) return;
  if (event === "take_started") {
    // The same take started again: its server died and another one records on.
    const continued = page.take?.take_id === take.take_id;
    page.take = take;
    page.saving = false;
    notify(continued ? "pair.continued" : null, {}, "info");
  } else if (event === "take_stopped") {
    const withMe = page.state === "recording";
    page.take = null;
    page.saving = withMe;
    render();
  } else {
    page.saving = false;
    if (event === "take_stored") fills().afterStop(take.take_id);
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
export async function resync() {
  if (!page.pairing) return;
  // a server that restarted never sends take_stored for its takes
  if (page.socket.connected) fills().fromCopy();
  try {
    const event = await api("GET", questionPath("/pairing"));
    onLink({ ...event, attempt_id: event.attempt_id ?? page.pairing.attempt_id });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) location.replace(loginUrl(true));
    else console.warn(err);
  }
}

export async function tapReady() {
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
