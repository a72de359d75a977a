// Plays a stored take in one <video>: its segments one after another, as the
// server split it (a new segment at each resolution change or reconnect).

export class TakePlayer {
  /** ``onFinished()`` runs when the last segment has played to its end. */
  constructor(video, onFinished) {
    this.video = video;
    this.onFinished = onFinished;
    this.take = null;
    this.segments = [];
    this.index = 0;
    video.addEventListener("ended", () => this._next());
  }

  /** Show ``take`` (a summary with its manifest), ready to play from the start. */
  load(take) {
    this.take = take;
    this.segments = [...(take.manifest?.segments || [])].sort((a, b) => a.index - b.index);
    this._show(0);
  }

  playFromStart() {
    if (this.index !== 0) this._show(0);
    else this.video.currentTime = 0;
    return this.video.play();
  }

  pause() {
    this.video.pause();
  }

  _show(i) {
    this.index = i;
    const id = encodeURIComponent(this.take.take_id);
    this.video.dataset.takeId = this.take.take_id;
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
