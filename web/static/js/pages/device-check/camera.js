// The device check's camera and microphone: open them (again after they went away),
// the level meter, the list of cameras and switching between them, and the media
// session (uplink) that sends them to the server.

import { t } from "../../lib/i18n.js";
import {
  LevelMeter, listCameras, mediaErrorKey, openCameraAndMic, switchCamera,
} from "../../lib/media.js";
import { Uplink } from "../../lib/uplink.js";
import {
  clearNotice, notify, notifyError, page, render, setState, ui,
} from "./page.js";

export async function openMedia() {
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
    page.uplink = new Uplink(page.socket, page.stream, onUplinkState, { onMedia: render });
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

export async function refreshCameras() {
  page.cameras = await listCameras();
  const track = page.stream?.getVideoTracks()[0];
  const current = track?.getSettings().deviceId;
  ui.cameraSelect.replaceChildren(...page.cameras.map((camera, i) => new Option(
    camera.label || t("camera.unnamed", { n: i + 1 }), camera.deviceId, false,
    camera.deviceId === current,
  )));
  render();
}

export async function chooseCamera(deviceId) {
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

export function nextCamera() {
  const ids = page.cameras.map((c) => c.deviceId);
  const next = ids[(ids.indexOf(ui.cameraSelect.value) + 1) % ids.length];
  if (next) chooseCamera(next);
}

function onUplinkState(state, error) {
  if (state === "connected") clearNotice("uplink");
  if (state === "failed" && error) notifyError(error, "uplink");
  render();
}
