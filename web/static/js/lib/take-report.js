// A take's quality report (issue #18), in plain words: what the server received of it.
// The report is the take's "quality" (GET /api/takes/{id}, the take events): version 1,
// seconds on the take's clock, per camera video {fps, low_fps_s, resolutions, bitrate_kbps,
// frozen_s, black_s, lost_s, lost: [{from_s, to_s, reason}]} and audio {present, channels,
// bandwidth_hz, bitrate_kbps, lost_s}.
//
//   reportLines(quality)   ["这次录制因网络中断丢失了 3.2 秒（00:12–00:15）", ...] or the one
//                          "complete" line; [] without a report (an older take, still saving)
//   damageText(damage)     one way it was damaged ("因网络中断丢失了 3.2 秒")
//   retakeText(retake)     "这次录制因网络中断丢失了 3.2 秒，已为您增加一次正式录制机会"
//   cameraDetails(part)    the console's figures for one camera (resolution, fps, ...)

import { clock } from "./format.js";
import { t } from "./i18n.js";

const LOW_FPS = 15;
const LOST_OVER_S = 0.05; // less than this is rounding, not a loss

function seconds(n) {
  return (Math.round((Number(n) || 0) * 10) / 10).toFixed(1);
}

/** "00:12–00:15", or "00:02" for a stretch within one second. */
function stretch(x) {
  const from = clock(x.from_s, false);
  const to = clock(x.to_s, false);
  return from === to ? from : `${from}–${to}`;
}

function stretches(list) {
  return (list || []).map(stretch).join(", ");
}

function cameras(quality) {
  return Object.entries(quality?.cameras || {});
}

function camName(name) {
  return name === "primary" ? "" : t("report.onCamera", { camera: t(`report.camera.${name}`) });
}

/** The candidate's lines for one take (the worst camera's loss, low frame rate, no sound). */
export function reportLines(quality) {
  if (!quality || quality.version !== 1) return [];
  const lines = [];
  const parts = cameras(quality);
  const worst = parts.reduce((w, p) => ((p[1].video?.lost_s ?? 0) > (w?.[1].video?.lost_s ?? 0)
    ? p : w), null);
  const lost = Math.max(Number(quality.lost_s) || 0, worst?.[1].video?.lost_s ?? 0);
  if (lost >= LOST_OVER_S) {
    const when = stretches(worst?.[1].video?.lost);
    lines.push(t(when ? "report.lostAt" : "report.lost", {
      s: seconds(lost), when, camera: camName(worst?.[0] || "primary"),
    }));
  }
  for (const [name, part] of parts) {
    if ((part.video?.low_fps_s ?? 0) >= 1) {
      lines.push(t("report.lowFps", { s: seconds(part.video.low_fps_s), fps: LOW_FPS,
        camera: camName(name) }));
    }
  }
  if (parts.length && !parts.some(([, p]) => p.audio?.present)) lines.push(t("report.noAudio"));
  if (!lines.length) {
    const primary = quality.cameras?.primary?.video;
    const size = primary?.resolutions?.at(-1);
    lines.push(t("report.complete", {
      size: size ? `${size.width}×${size.height}` : "—",
      fps: Math.round(primary?.fps ?? 0),
    }));
  }
  return lines;
}

/** One way a take was damaged (a ``damage[]`` entry), in words: "丢失了 3.2 秒". */
export function damageText(d) {
  const camera = camName(d.camera || "primary");
  if (d.kind === "lost") return t("report.why.lost", { s: seconds(d.seconds), camera });
  if (d.kind === "low_fps") {
    return t("report.why.lowFps", { s: seconds(d.seconds), fps: LOW_FPS, camera });
  }
  return t("report.why.noAudio");
}

/** Why an extra formal take was granted, from the attempt's ``retakes[]`` entry. */
export function retakeText(retake) {
  return t("report.retake", { why: (retake.damage || []).map(damageText).join(t("report.and")) });
}

/** The console's figures for one camera: [[label key, value], ...]. */
export function cameraDetails(part) {
  const v = part?.video || {};
  const a = part?.audio || {};
  const sizes = (v.resolutions || []).map((r) => `${r.width}×${r.height}`
    + (r.from_s >= 1 ? ` (${clock(r.from_s, false)})` : "")).join(", ") || "—";
  const lost = (v.lost || []).map((x) => stretch(x) + (x.reason ? ` ${x.reason}` : ""))
    .join(", ");
  return [
    ["report.d.resolution", sizes],
    ["report.d.fps", `${Number(v.fps ?? 0).toFixed(1)} (${t("report.d.lowFpsFor",
      { s: seconds(v.low_fps_s), fps: LOW_FPS })})`],
    ["report.d.videoBitrate", `${Math.round(v.bitrate_kbps ?? 0)} kbit/s`],
    ["report.d.lost", lost ? `${seconds(v.lost_s)} s: ${lost}` : t("report.d.none")],
    ["report.d.frozen", `${seconds(v.frozen_s)} s`],
    ["report.d.black", `${seconds(v.black_s)} s`],
    ["report.d.audio", a.present
      ? t("report.d.audioIs", {
        ch: a.channels ?? "?",
        bw: a.bandwidth_hz ? `${Math.round(a.bandwidth_hz / 100) / 10} kHz` : "—",
        kbps: Math.round(a.bitrate_kbps ?? 0),
      })
      : t("report.d.noAudio")],
  ];
}
