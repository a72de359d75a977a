// What the server receives of the test take (issue #18): the picture's size, frame
// rate and bitrate, the sound's channels, band and bitrate, from the server's live
// meter (socket event media_received), against the exam's needs, with a plain
// warning for each shortfall. Asked once a second while recording; the last answer
// stays shown for the review.

import { t } from "../../lib/i18n.js";
import { request } from "../../lib/uplink.js";
import { $ } from "../../lib/dom.js";

const POLL_MS = 1000;
const SETTLE_S = 3; // the browser's bandwidth estimate climbs for the first seconds

const ui = {
  box: $("received"), figures: $("received-figures"), needs: $("received-needs"),
  warnings: $("received-warnings"),
};
let timer = null;
let last = null; // the server's last answer
let since = 0; // performance.now() of the take's start

/** Start asking (a take started on ``socket`` for media session ``sessionId``). */
export function followReceived(socket, sessionId) {
  stopReceived();
  last = null;
  since = performance.now();
  const ask = async () => {
    try {
      last = await request(socket, "media_received", { session_id: sessionId }, 3000);
    } catch (err) {
      console.warn("what the server receives: not known", err);
    }
    renderReceived(true);
  };
  timer = setInterval(ask, POLL_MS);
  renderReceived(true);
}

/** Stop asking; what was last measured stays shown. */
export function stopReceived() {
  clearInterval(timer);
  timer = null;
}

function kHz(hz) {
  return hz ? (hz / 1000).toFixed(hz % 1000 ? 1 : 0) : "?";
}

function figuresText(received) {
  const { video, audio } = received;
  const lines = [];
  lines.push(video && video.frames ? t("received.video", {
    width: video.width ?? "?", height: video.height ?? "?", fps: Math.round(video.fps),
    kbps: Math.round(video.bitrate_kbps),
  }) : t("received.noVideo"));
  lines.push(audio && audio.present ? t("received.audio", {
    channels: t(audio.channels === 2 ? "received.stereo" : "received.mono"),
    band: kHz(audio.bandwidth_hz), kbps: Math.round(audio.bitrate_kbps),
  }) : t("received.noAudio"));
  return lines.join("\n");
}

function needsText(needs) {
  const audio = needs.audio === "music"
    ? t("received.needsMusic", { kbps: needs.audio_kbps }) : t("received.needsVoice");
  return t("received.needs", {
    width: needs.width, height: needs.height, minFps: needs.min_fps, audio,
  });
}

/** Show the last answer (``live``: while recording; the warnings wait for the picture to
 * settle). Hidden before the first take, and when ``shown`` is false. */
export function renderReceived(live = timer !== null, shown = true) {
  if (!ui.box) return;
  ui.box.hidden = !shown || (last === null && !live);
  if (ui.box.hidden) return;
  const received = last?.received;
  ui.figures.textContent = received ? figuresText(received) : t("received.waiting");
  ui.needs.textContent = last ? needsText(last.needs) : "";
  const settled = !live || (performance.now() - since) / 1000 >= SETTLE_S;
  const short = received && settled ? last.short : [];
  ui.warnings.replaceChildren(...short.map((code) => {
    const li = document.createElement("li");
    li.dataset.code = code;
    li.textContent = t(`received.short.${code}`);
    return li;
  }));
  ui.box.dataset.state = !received || !settled ? "measuring" : short.length ? "short" : "ok";
  ui.warnings.hidden = !short.length;
  if (received && settled && !short.length) {
    const ok = document.createElement("li");
    ok.dataset.code = "ok";
    ok.textContent = t("received.ok");
    ui.warnings.replaceChildren(ok);
    ui.warnings.hidden = false;
  }
}
