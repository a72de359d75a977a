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
//
// The page's state and rendering: pages/device-check/page.js; the camera and microphone:
// pages/device-check/camera.js; the test take, its playback and finishing:
// pages/device-check/take.js. Here: the session, the wiring and the start.

import { ApiError, api, logOut, routeCalls } from "../lib/api.js";
import { lang, onLangChange, setLang, translatePage } from "../lib/i18n.js";
import { mediaSupport } from "../lib/media.js";
import { TakePlayer } from "../lib/playback.js";
import { chooseCamera, nextCamera, openMedia, refreshCameras } from "./device-check/camera.js";
import {
  clearNotice, fitStage, notify, page, render, setState, ui,
} from "./device-check/page.js";
import {
  DONE_KEY, fetchTake, finish, holdWakeLock, playBack, playedToTheEnd, recordAgain,
  showTake, startRecording, stopRecording, takeFailed, takeStopped, toLogin,
} from "./device-check/take.js";

// -- the session ------------------------------------------------------------------------

/** Who is logged in; false when the page is on its way to the login page. */
async function checkSession() {
  try {
    page.me = (await api("GET", "/api/me")).account;
    page.socket.routeTo(page.me.id); // c=: this candidate's media node (lib/socketio.js)
    routeCalls(page.me.id); // and every call of the page (lib/api.js)
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
  ui.reconnect.addEventListener("click", () => page.uplink?.retryNow());
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
