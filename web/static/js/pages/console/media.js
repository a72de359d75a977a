// The exam editor's "sound and picture" section (issue #18): music-grade sound (Opus in
// stereo, full band, at a chosen bitrate) or a voice's, the picture size the camera is
// asked for, and the frame rate below which the device check warns (exam.media, checked
// by the server: exams/catalog/media_profile.py). Fixed once candidates started, as the
// questions are: every candidate records with the same settings.

import { h } from "../../lib/dom.js";
import { field } from "./fields.js";

export const DEFAULTS = { audio: "music", audio_kbps: 128, video: "720p", min_fps: 20 };
const VOICE_KBPS = 32;
const LABELS = {
  audio: "console.media.audio", audio_kbps: "console.media.audioKbps",
  video: "console.media.video", min_fps: "console.media.minFps",
};

/** The label keys of a problem's path ``media.<field>``, or null. */
export function mediaLabel(path) {
  const m = /^media(?:\.([a-z_]+))?$/.exec(path);
  if (!m) return null;
  return ["console.media.settings", ...(m[1] && LABELS[m[1]] ? [LABELS[m[1]]] : [])];
}

function choice(value, options, testid) {
  return h("select", { testid },
    ...options.map(([v, key]) => h("option", { value: v, i18n: key, selected: v === value })));
}

export class MediaSection {
  /** ``media``: the exam's ``media`` ({audio, audio_kbps, video, min_fps}), or undefined. */
  constructor(media) {
    const m = { ...DEFAULTS, ...(media || {}) };
    this.audio = choice(m.audio, [["music", "console.media.music"],
      ["voice", "console.media.voice"]], "media-audio");
    this.kbps = h("input", { type: "number", min: "32", max: "510", step: "1",
      inputmode: "numeric", value: String(m.audio_kbps), testid: "media-audio-kbps" });
    this.video = choice(m.video, [["720p", "console.media.720p"],
      ["480p", "console.media.480p"]], "media-video");
    this.minFps = h("input", { type: "number", min: "1", max: "30", step: "1",
      inputmode: "numeric", value: String(m.min_fps), testid: "media-min-fps" });
    // a voice's bitrate is the browser's own: the field is for music
    this.audio.addEventListener("change", () => this.render());
    this.el = h("section", { class: "panel", testid: "media" },
      h("h2", { i18n: "console.media.settings" }),
      h("p", { class: "field-hint", i18n: "console.media.hint" }),
      h("div", { class: "grid" },
        field({ key: "media.audio", label: LABELS.audio, control: this.audio }),
        field({ key: "media.audio_kbps", label: LABELS.audio_kbps, control: this.kbps,
          unit: "console.unit.kbps", hint: "console.media.audioKbpsHint" }),
        field({ key: "media.video", label: LABELS.video, control: this.video }),
        field({ key: "media.min_fps", label: LABELS.min_fps, control: this.minFps,
          unit: "console.unit.fps", hint: "console.media.minFpsHint" })));
    this.render();
  }

  render() {
    this.kbps.disabled = this.locked || this.audio.value !== "music";
  }

  lock(locked) {
    this.locked = locked;
    for (const control of [this.audio, this.video, this.minFps]) control.disabled = locked;
    this.render();
  }

  /** The ``media`` object to send; a number the server will judge goes as typed. */
  read() {
    const num = (input) => (input.value.trim() === "" ? undefined : Number(input.value));
    const music = this.audio.value === "music";
    return {
      audio: this.audio.value,
      audio_kbps: music ? num(this.kbps) : VOICE_KBPS,
      video: this.video.value,
      min_fps: num(this.minFps),
    };
  }
}
