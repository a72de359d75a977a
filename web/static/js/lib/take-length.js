// How much a stored take holds: its recorded length and the holes in it (a closed tab,
// a network drop), from the recorder's summary (GET /api/takes/{id}). The wall time from
// start to stop says more than was recorded when part of it was lost.

import { duration } from "./format.js";
import { t } from "./i18n.js";

/** {recorded, gaps: [{start_s, end_s, reason}], missing} in seconds, or null while the
 * take is not stored yet. One camera: the primary's, or ``camera`` of ``manifest.cameras``. */
export function takeLength(summary, camera = "primary") {
  if (!summary || summary.state !== "stored" || !summary.manifest) return null;
  const part = camera === "primary" ? summary.manifest : summary.manifest.cameras?.[camera];
  if (!part) return null;
  const top = camera === "primary" ? summary : {};
  const segments = part.segments || [];
  const recorded = top.recorded_s
    ?? segments.reduce((sum, s) => sum + (Number(s.duration_s) || 0), 0);
  const gaps = (top.gaps ?? part.gaps ?? []).filter((g) => g.end_s > g.start_s);
  const missing = gaps.reduce((sum, g) => sum + (g.end_s - g.start_s), 0);
  return { recorded, gaps, missing, segments: segments.length };
}

/** "时长 35 秒", or with holes "录制 35 秒，中断 1 次（缺 6 秒）"; ``wall`` while not stored. */
export function lengthText(summary, wall) {
  const length = takeLength(summary);
  if (!length) return t("exam.works.length", { d: duration(wall) });
  if (!length.gaps.length) return t("exam.works.length", { d: duration(length.recorded) });
  return t("exam.works.lengthGaps", {
    d: duration(length.recorded), n: length.gaps.length,
    missing: duration(Math.max(1, length.missing)),
  });
}
