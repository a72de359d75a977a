// A take's quality report in plain words (web/static/js/lib/take-report.js, issue #18): the
// candidate's line right after a take, why an extra formal take was granted, the console's
// figures. Runs in node's test runner: `node --test tests/js/take-report.test.mjs`; the page
// itself is checked in Chromium (tests/e2e/test_exam.py).
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.location = { search: "?lang=zh" }; // i18n reads the page's address ...
globalThis.document = { documentElement: { dataset: {} }, querySelectorAll: () => [] }; // sets
const { cameraDetails, reportLines, retakeText } = await import(
  "../../web/static/js/lib/take-report.js");
const { setLang } = await import("../../web/static/js/lib/i18n.js");

function report(lostS = 0, { lowFps = 0, audio = true } = {}) {
  return {
    version: 1, duration_s: 30, lost_s: lostS,
    cameras: { primary: {
      video: { fps: 29.4, low_fps_s: lowFps, bitrate_kbps: 1800, frozen_s: 0, black_s: 0,
        resolutions: [{ from_s: 0, width: 1280, height: 720 }], lost_s: lostS,
        lost: lostS ? [{ from_s: 12.1, to_s: 12.1 + lostS, reason: "network" }] : [] },
      audio: { present: audio, channels: audio ? 2 : 0, bandwidth_hz: audio ? 20000 : null,
        bitrate_kbps: audio ? 128 : 0, lost_s: lostS },
    } },
  };
}

test("a take that lost time says how much and when, in Chinese and English", () => {
  setLang("zh");
  assert.deepEqual(reportLines(report(3.2)), ["这次录制因网络中断丢失了 3.2 秒（00:12–00:15）"]);
  setLang("en");
  assert.deepEqual(reportLines(report(3.2)), ["This take lost 3.2 s to the network (00:12–00:15)"]);
});

test("a complete take says so; low frame rate and no sound are named", () => {
  setLang("en");
  assert.deepEqual(reportLines(report()), ["This take is complete: 1280×720, 29 fps, with sound"]);
  assert.deepEqual(reportLines(report(0, { lowFps: 7.5, audio: false })), [
    "The picture ran below 15 fps for 7.5 s", "This take has no sound"]);
  assert.deepEqual(reportLines(null), []);
});

test("the retake's reason, and the console's figures", () => {
  setLang("zh");
  assert.equal(retakeText({ damage: [{ kind: "lost", camera: "primary", seconds: 3.2 }] }),
    "这次录制因网络中断丢失了 3.2 秒，已为您增加一次正式录制机会");
  const figures = Object.fromEntries(cameraDetails(report(3.2).cameras.primary));
  assert.equal(figures["report.d.resolution"], "1280×720");
  assert.equal(figures["report.d.lost"], "3.2 s: 00:12–00:15 network");
  assert.match(figures["report.d.audio"], /^2 声道，带宽 20 kHz，128 kbit\/s$/);
});
