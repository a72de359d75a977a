// <dual-playback>: a take of a question with a second camera (需二机位), played side by
// side and in sync: the first device's video and the phone's, each in its own <video>,
// under one play/pause button and one slider. The question page has one in its markup,
// the console makes one per take; the element builds its own parts (styles:
// css/dual-playback.css).
//
//   <dual-playback class="dual" data-testid="dual" hidden></dual-playback>
//   dual.load(take); await dual.playFromStart();      // take: a summary with its manifest
//   await dual.playFrom(12.5);                           // from a moment on the take's clock
//   dual.addEventListener("playback-ended", …);          // the first camera played to its end
//
// Both cameras' segments have their start (``start_s``) on the take's one clock
// (0 = when the server started the take). The first camera leads: the take's
// time is its segment's start plus its position; the second camera is put at the
// same take time, nudged back when it drifts, held still where it has no
// picture (before its first segment, in a gap after a drop). A fill from the page's
// local copy (issue #14) plays from its hole on (lib/playback.js playList), so a
// filled hole plays without a jump.

import { clock } from "../lib/format.js";
import { playList } from "../lib/playback.js";
import { h } from "../lib/dom.js";
import { t } from "../lib/i18n.js";

const DRIFT_S = 0.2; // the second camera is moved back in line past this
const EDGE_S = 0.05; // a segment starting this little after the time counts already
const NUDGE_EVERY_MS = 1000; // while playing: a seek needs a moment to settle

/** True when the take's manifest has segments of the second camera. */
export function hasSecondCamera(take) {
  return Boolean(take?.manifest?.cameras?.secondary?.segments?.length);
}

/** One camera's segments in one <video>, addressed by take time. */
class CameraTrack {
  constructor(video, camera) {
    this.video = video;
    this.camera = camera;
    this.takeId = null;
    this.segments = [];
    this.current = -1;
    this.wanted = null; // a position to set once the segment's metadata is in
    video.addEventListener("loadedmetadata", () => {
      if (this.wanted === null) return;
      this.video.currentTime = this.wanted;
      this.wanted = null;
    });
  }

  load(takeId, segments) {
    this.takeId = takeId;
    // url: the console's own address for a segment (else the owner's)
    this.segments = playList(segments);
    this.current = -1;
    this.video.dataset.takeId = takeId;
    this.video.dataset.camera = this.camera;
  }

  get start() {
    return this.segments.length ? this.segments[0].begin : 0;
  }

  get end() {
    return this.segments.length ? this.segments.at(-1).end : 0;
  }

  /** The segment showing take time ``when``, or -1 (before, between or after them). */
  at(when) {
    return this.segments.findIndex((s) => s.begin - EDGE_S <= when && when < s.end);
  }

  /** The first segment that starts at or after ``when``, or -1. */
  after(when) {
    return this.segments.findIndex((s) => s.begin >= when - EDGE_S);
  }

  /** Where this camera is on the take's clock; null before a segment is shown. */
  position() {
    if (this.current < 0) return null;
    const local = this.wanted ?? this.video.currentTime;
    return this.segments[this.current].start + local;
  }

  /** Show segment ``i`` at ``local`` seconds into it. */
  show(i, local = 0) {
    const position = Math.max(0, local);
    if (i !== this.current) {
      this.current = i;
      const id = encodeURIComponent(this.takeId);
      const query = this.camera === "primary" ? "" : `?camera=${this.camera}`;
      this.wanted = position;
      this.video.src = this.segments[i].url
        || `/api/takes/${id}/segments/${this.segments[i].index}${query}`;
      return;
    }
    if (this.video.readyState >= HTMLMediaElement.HAVE_METADATA) this.video.currentTime = position;
    else this.wanted = position;
  }
}

class DualPlayer {
  /**
   * ``ui``: {primary, secondary: <video>, root: the element holding both, toggle: the
   * play/pause button, seek: an <input type=range>, time: the time shown}.
   * ``onFinished()`` runs when the first camera has played to its end.
   */
  constructor(ui, onFinished) {
    this.ui = ui;
    this.onFinished = onFinished;
    this.first = new CameraTrack(ui.primary, "primary");
    this.second = new CameraTrack(ui.secondary, "secondary");
    this.playing = false;
    this.frame = 0;
    this.nudged = 0;
    this.take = null;
    ui.primary.addEventListener("ended", () => this._next());
    ui.toggle.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    ui.seek.addEventListener("input", () => this.seek(Number(ui.seek.value)));
    for (const event of ["pause", "waiting", "playing", "seeked"]) {
      ui.primary.addEventListener(event, () => this.sync());
    }
  }

  /** Show ``take`` (a summary with its manifest) at its start, paused. */
  load(take) {
    this.pause();
    this.take = take;
    const manifest = take.manifest || {};
    this.first.load(take.take_id, manifest.segments || []);
    this.second.load(take.take_id, manifest.cameras?.secondary?.segments || []);
    this.ui.seek.min = "0";
    this.ui.seek.max = String(Math.max(this.first.end, this.second.end, 0.1));
    this.ui.seek.step = "0.05";
    this.seek(this.first.start);
  }

  playFromStart() {
    this.seek(this.first.start);
    return this.play();
  }

  play() {
    this.playing = true;
    this._loop();
    this.render();
    return this.ui.primary.play().catch((err) => {
      this.pause();
      throw err;
    });
  }

  pause() {
    this.playing = false;
    cancelAnimationFrame(this.frame);
    this.ui.primary.pause();
    this.ui.secondary.pause();
    this.render();
  }

  /** Both cameras to take time ``when``. */
  seek(when) {
    if (!this.first.segments.length) return;
    let i = this.first.at(when);
    if (i < 0) i = Math.max(0, this.first.after(when));
    const segment = this.first.segments[i];
    const local = Math.max(segment.from, when - segment.start);
    this.first.show(i, Math.min(local, segment.end - segment.start));
    this.sync(when);
  }

  /** Put the second camera where the first one is (``when``: the take time, if known). */
  sync(when = null) {
    const now = when ?? this.first.position() ?? 0;
    const second = this.second;
    const i = second.at(now);
    const moving = this.playing && !this.ui.primary.paused
      && this.ui.primary.readyState >= HTMLMediaElement.HAVE_FUTURE_DATA;
    if (i < 0) {
      // No picture of the phone at this moment: hold it (at its first frame before it starts).
      this.ui.secondary.pause();
      if (second.current < 0 && second.segments.length) {
        const j = Math.max(0, second.after(now));
        second.show(j, second.segments[j].from);
      }
      this.ui.root.dataset.secondGap = "true";
    } else {
      this.ui.root.dataset.secondGap = "false";
      const local = now - second.segments[i].start;
      const drift = Math.abs((second.position() ?? Infinity) - now);
      const settled = performance.now() - this.nudged > NUDGE_EVERY_MS;
      // Paused: lined up at once; playing: a seek needs a moment before the next one.
      if (i !== second.current || (drift > DRIFT_S && (!moving || settled))) {
        second.show(i, local);
        this.nudged = performance.now();
      }
      if (moving && this.ui.secondary.paused) this.ui.secondary.play().catch(() => {});
      if (!moving && !this.ui.secondary.paused) this.ui.secondary.pause();
    }
    this._show(now, second.position());
  }

  render() {
    const { toggle } = this.ui;
    toggle.dataset.playing = String(this.playing);
    toggle.textContent = t(this.playing ? "exam.pair.pause" : "exam.pair.play");
  }

  _show(now, secondNow) {
    const { seek, time, primary, secondary } = this.ui;
    const total = Number(seek.max) || 0;
    seek.value = String(Math.min(now, total));
    time.textContent = `${clock(now, false)} / ${clock(total, false)}`;
    // What the tests read: both cameras' positions on the take's clock.
    primary.dataset.takeTime = now.toFixed(2);
    secondary.dataset.takeTime = secondNow === null ? "" : secondNow.toFixed(2);
  }

  _loop() {
    cancelAnimationFrame(this.frame);
    if (!this.playing) return;
    this.sync();
    this.frame = requestAnimationFrame(() => this._loop());
  }

  // The first camera's segment ended: the next one, or the end of the take.
  _next() {
    const i = this.first.current + 1;
    if (i < this.first.segments.length) {
      this.first.show(i, this.first.segments[i].from);
      if (this.playing) this.ui.primary.play().catch((err) => console.warn(err));
      return;
    }
    this.pause();
    this.onFinished();
  }
}

class DualPlayback extends HTMLElement {
  connectedCallback() {
    this._build();
  }

  /** The parts, made once (at the first use: an element made by a script may not have
   * children until then). */
  _build() {
    if (this.player) return this.player;
    const primary = h("video", { playsinline: true, preload: "auto", testid: "dual-primary" });
    const secondary = h("video", { muted: true, playsinline: true, preload: "auto",
      testid: "dual-secondary" });
    secondary.muted = true; // one sound: the first camera's
    const toggle = h("button", { type: "button", class: "dual-toggle", testid: "dual-toggle" });
    const seek = h("input", { type: "range", class: "dual-seek", testid: "dual-seek", min: "0",
      max: "1", step: "0.05", value: "0", i18nLabel: "exam.pair.seek" });
    const time = h("time", { class: "dual-time", testid: "dual-time" });
    this.classList.add("dual");
    this.replaceChildren(
      h("figure", { class: "cam" }, primary, h("figcaption", { i18n: "exam.pair.camPrimary" })),
      h("figure", { class: "cam cam-second" }, secondary,
        h("figcaption", { i18n: "exam.pair.camSecondary" }),
        h("span", { class: "cam-gap", i18n: "exam.pair.noPicture" })),
      h("div", { class: "dual-controls" }, toggle, seek, time));
    this.player = new DualPlayer({ primary, secondary, root: this, toggle, seek, time }, () => {
      this.dispatchEvent(new CustomEvent("playback-ended"));
    });
    return this.player;
  }

  /** The first camera's <video> (its errors are the take's). */
  get primary() {
    return this._build().ui.primary;
  }

  load(take) {
    this._build().load(take);
  }

  playFromStart() {
    return this._build().playFromStart();
  }

  /** Both cameras from take time ``when`` (seconds on the take's clock), playing. */
  playFrom(when) {
    const player = this._build();
    player.seek(Math.max(player.first.start, when));
    return player.play();
  }

  play() {
    return this._build().play();
  }

  pause() {
    this._build().pause();
  }

  /** The button's words, in the page's language. */
  render() {
    this._build().render();
  }
}

customElements.define("dual-playback", DualPlayback);
