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
//
// The page's state and rendering: pages/pair/page.js; the camera, its session and the
// server's events: pages/pair/camera.js. Here: stopping, the wiring and the start.

import { ApiError, routeCalls } from "../lib/api.js";
import { lang, setLang, t, translatePage } from "../lib/i18n.js";
import {
  endCamera, loadQuestion, nextCamera, onLink, onTake, openCamera, resync, tapReady,
} from "./pair/camera.js";
import { forget, redeem, remember, remembered, switchAccount } from "./pair/code.js";
import { fail, fitStage, page, render, tick, ui } from "./pair/page.js";
import { $ } from "../lib/dom.js";
import { ProctorLine } from "../components/proctor-line.js";

const POLL_MS = 5000; // between takes: submitted on the first device meanwhile?
const POLLED = ["connected", "ready", "stopped", "camera-error"];

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
  ui.reconnect.addEventListener("click", () => page.uplink?.retryNow());
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
  // The heartbeat's round trip keeps the recording time on the server's clock.
  page.socket.on("heartbeat", ({ result, sentAt, receivedAt }) => {
    page.clock.syncRtt?.(result.now, sentAt, receivedAt);
  });
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
  // c=: the candidate's media node (a pairing remembered from before it was sent: none).
  page.socket.routeTo(page.pairing.candidate_id);
  routeCalls(page.pairing.candidate_id); // and every call of the page (lib/api.js)
  // The proctors' messages show here too (read on either device); their time changes reload.
  new ProctorLine({ socket: page.socket, examId: page.pairing.exam_id, onDeadline: loadQuestion,
    onEnded: loadQuestion }).start();
  await loadQuestion();
  if (!page.done) await openCamera();
}

main();
