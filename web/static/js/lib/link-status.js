// The connection line under the camera (the question page, the device check, the phone):
// what the link to the server is doing, how long a drop has lasted, that it is back and
// how much was lost, and a button to try again at once.
//
//   renderLink({ line, text, retry }, uplink)   // on every render and tick

import { t } from "./i18n.js";

const BACK_SHOWN_MS = 10000; // "back, N s lost" stays this long

/** The line's state and words for ``uplink`` (an Uplink, or null before there is one). */
export function linkStatus(uplink) {
  if (!uplink) return { state: "connecting", text: t("conn.connecting"), retry: false };
  const lost = uplink.lostForS();
  if (lost !== null && uplink.state !== "connecting") {
    const state = uplink.state === "failed" ? "failed" : "reconnecting";
    return {
      state, text: t("conn.lostFor", { s: Math.max(1, Math.round(lost)) }), retry: true,
    };
  }
  const back = uplink.lastDrop;
  if (uplink.state === "connected" && back && performance.now() - back.endedAt < BACK_SHOWN_MS
    && back.lostS !== null) {
    return {
      state: "connected", text: t("conn.back", { s: back.lostS.toFixed(1) }), retry: false,
      back: true,
    };
  }
  const failed = uplink.state === "failed";
  return { state: uplink.state, text: t(`conn.${uplink.state}`), retry: failed };
}

/** Show ``uplink``'s status on the line (``retry``: its button, may be missing). */
export function renderLink({ line, text, retry }, uplink) {
  const status = linkStatus(uplink);
  line.dataset.state = status.state;
  if (status.back) line.dataset.back = "1";
  else delete line.dataset.back;
  text.textContent = status.text;
  if (retry) retry.hidden = !status.retry;
}
