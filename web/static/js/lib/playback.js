// Plays a stored take in one <video>: its segments one after another, as the
// server split it (a new segment at each resolution change or reconnect), in the
// order of the take's clock. A fill (a hole closed from the page's local copy, issue
// #14) starts at a keyframe a little before its hole: it plays from the hole on, so
// the take plays across it without a jump.

/**
 * A camera's segments in the order they play: {index, start (its file's 0 on the take's
 * clock), begin (where it starts to play), end, from (seconds into its file), url, fill}.
 */
export function playList(segments) {
  return [...segments].map((s) => {
    const start = Number(s.start_s) || 0;
    const fill = s.reason === "fill" && Array.isArray(s.covers);
    const begin = fill ? Math.max(start, Number(s.covers[0])) : start;
    return {
      index: s.index, start, begin, end: start + (Number(s.duration_s) || 0),
      from: begin - start, url: s.play_url || null, fill,
    };
  }).sort((a, b) => (a.begin - b.begin) || (a.index - b.index));
}

export class TakePlayer {
  /** ``onFinished()`` runs when the last segment has played to its end. */
  constructor(video, onFinished) {
    this.video = video;
    this.onFinished = onFinished;
    this.take = null;
    this.segments = [];
    this.index = 0;
    this.wanted = 0; // where to start the segment shown, once its metadata is in
    video.addEventListener("ended", () => this._next());
    video.addEventListener("loadedmetadata", () => {
      if (this.wanted > 0) this.video.currentTime = this.wanted;
    });
  }

  /** Show ``take`` (a summary with its manifest), ready to play from the start. */
  load(take) {
    this.take = take;
    this.segments = playList(take.manifest?.segments || []);
    this._show(0);
  }

  playFromStart() {
    if (this.index !== 0) this._show(0);
    else this.video.currentTime = this.segments[0]?.from || 0;
    return this.video.play();
  }

  pause() {
    this.video.pause();
  }

  _show(i) {
    this.index = i;
    const id = encodeURIComponent(this.take.take_id);
    this.video.dataset.takeId = this.take.take_id;
    this.wanted = this.segments[i].from;
    this.video.src = `/api/takes/${id}/segments/${this.segments[i].index}`;
  }

  _next() {
    if (this.index + 1 < this.segments.length) {
      this._show(this.index + 1);
      this.video.play().catch((err) => console.warn(err));
    } else {
      this.onFinished();
    }
  }
}
