// Filling a take's holes from the local copy (issue #14). After a take stops, and when a
// page loads with takes in its local copy (lib/local-copy.js: a reload, a crash, a server
// that restarted), the page asks the server what each take still lacks
// (GET /api/takes/{id}/gaps: stretches on the take's clock, per camera) and uploads the
// chunks of its copy covering each stretch over the resumable upload endpoint
// (lib/tus.js; Upload-Metadata kind=fill, docs/uploads.md). The server checks the media,
// cuts it to the hole and places it on the take's clock. Once the take is complete the
// copy of it is deleted (confirm). Nothing here is shown to the candidate unless asked
// (``onState``): the live recording is what they watch.
//
// When: after a take of this page is stored or its copy stops (afterStop), at page load
// and whenever the page (re)connects to the server (fromCopy: every stopped take the copy
// holds — a server that restarted never sends take_stored for a take it recovered), and
// every WATCH_MS while the copy holds stopped takes the server may still lack. One take at
// a time per page (one queue), one page at a time per take and camera (a Web Lock), and a
// slice the server took or refused is not sent again.
//
//   import { Filler } from "../lib/fill-upload.js";
//   const filler = new Filler({ camera: "primary", onState: (s) => … });
//   filler.afterStop(takeId);          // a take of this page stopped
//   filler.fromCopy();                 // page load, (re)connect: every take the copy holds
//   filler.close();                    // no more periodic checks

import { api, ApiError } from "./api.js";
import { openLocalCopy } from "./local-copy.js";
import { TusUpload } from "./tus.js";

const WAIT_MS = [500, 1000, 2000, 3000, 5000, 8000]; // for a take still being stored
const MIN_MS = 50; // a stretch shorter than this is rounding, not a hole
const WATCH_MS = 15000; // while the copy holds stopped takes the server may still lack
const LOCK_PREFIX = "examcast.fill.";

/** The stretches of ``gaps`` (the gaps API's answer) of one camera in server epoch ms. */
export function stretches(gaps, camera) {
  const base = gaps.started_at * 1000;
  return (gaps.cameras?.[camera] || []).map((g) => ({
    fromMs: base + g.start_s * 1000,
    toMs: base + g.end_s * 1000,
  }));
}

/** What to claim for one slice of the copy: the hole, within what the slice holds. */
export function claim(stretch, slice) {
  const fromMs = Math.max(stretch.fromMs, slice.fromMs);
  const toMs = Math.min(stretch.toMs, slice.toMs);
  return toMs - fromMs >= MIN_MS ? { fromMs, toMs } : null;
}

/** The Upload-Metadata of a fill. */
export function fillMetadata(takeId, camera, slice, span) {
  return {
    kind: "fill",
    take_id: takeId,
    camera,
    started_at_ms: String(Math.round(slice.startedAtMs)),
    from_ms: String(Math.round(span.fromMs)),
    to_ms: String(Math.round(span.toMs)),
    head_size: String(slice.head.size),
    mime: slice.mimeType,
  };
}

async function gapsOf(takeId) {
  return api("GET", `/api/takes/${encodeURIComponent(takeId)}/gaps`);
}

const sleep = (ms) =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

export class Filler {
  /**
   * ``camera``: this device's camera ("primary", or "secondary" on the phone);
   * ``onState({takeId, state, sent, missingS})``: state is filling | complete | incomplete |
   * expired; ``copy``: a LocalCopy (default: openLocalCopy()); ``watchMs``: how often the
   * copy's stopped takes are checked again (0: never).
   */
  constructor({ camera = "primary", onState = null, copy = null, watchMs = WATCH_MS } = {}) {
    this.camera = camera;
    this.onState = onState;
    this.copy = copy ? Promise.resolve(copy) : null;
    this.watchMs = watchMs;
    this.queue = Promise.resolve();
    this.done = new Set(); // takes complete or out of time: not asked again
    this.queued = new Set(); // takes waiting in the queue (not started yet)
    this.scanQueued = false;
    this.idle = new Set(); // nothing more to send from here (until the next (re)connect)
    this.tried = new Set(); // slices the server took or refused: not sent again
    this.timer = null;
    this.closed = false;
  }

  open() {
    this.copy ??= openLocalCopy().catch((err) => {
      console.warn("local copy:", err);
      return null;
    });
    return this.copy;
  }

  /** A take of this page stopped (stored, or its copy ended): fill what the server lacks. */
  afterStop(takeId) {
    this.idle.delete(takeId);
    if (this.done.has(takeId) || this.queued.has(takeId)) return this.queue;
    this.queued.add(takeId);
    return this.#enqueue(async () => {
      this.queued.delete(takeId);
      await this.#fillOnce(takeId);
      this.#watch();
    });
  }

  /** Every take the local copy holds that is no longer being recorded: at page load and
   * after each (re)connect. */
  fromCopy() {
    this.idle.clear();
    return this.#scan();
  }

  /** No more periodic checks (the page is done with its camera). */
  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = null;
  }

  #scan() {
    if (this.scanQueued) return this.queue;
    this.scanQueued = true;
    return this.#enqueue(async () => {
      this.scanQueued = false;
      try {
        for (const takeId of await this.#waiting()) {
          // idle: nothing more to send from here; a (re)connect (fromCopy) clears it
          if (!this.queued.has(takeId) && !this.idle.has(takeId)) await this.#fillOnce(takeId);
        }
      } finally {
        this.#watch();
      }
    });
  }

  /** The takes of this camera the copy holds, stopped, neither confirmed nor given up. */
  async #waiting() {
    const copy = await this.open();
    if (!copy) return [];
    const takes = (await copy.takes()).filter((t) => t.camera === this.camera
      && !t.recording && !t.confirmed && !this.done.has(t.takeId));
    return [...new Set(takes.map((t) => t.takeId))];
  }

  /** Checks again in watchMs while some stopped take may still be filled from here. */
  #watch() {
    if (this.closed || !this.watchMs || this.timer) return;
    this.timer = setTimeout(async () => {
      this.timer = null;
      let left = [];
      try {
        left = (await this.#waiting()).filter((id) => !this.idle.has(id));
      } catch (err) {
        console.warn("fill:", err);
      }
      if (left.length) this.#scan();
    }, this.watchMs);
  }

  /** One fill of a take, unless another page (tab) of this browser fills it now. */
  async #fillOnce(takeId) {
    if (this.done.has(takeId)) return;
    const run = async () => {
      try {
        await this.fill(takeId);
      } catch (err) {
        console.warn("fill:", err); // e.g. the network: the next round or reconnect
      }
    };
    if (!navigator.locks?.request) return run();
    return navigator.locks.request(`${LOCK_PREFIX}${takeId}.${this.camera}`,
      { ifAvailable: true }, (lock) => (lock ? run() : null));
  }

  #enqueue(job) {
    this.queue = this.queue.then(job).catch((err) => console.warn("fill:", err));
    return this.queue;
  }

  /** Fill one take; the gaps API's last answer (null when the take is not ours). */
  async fill(takeId) {
    if (this.done.has(takeId)) return null;
    const copy = await this.open();
    if (!copy) return null;
    let gaps = await this.#stored(takeId);
    if (!gaps) {
      if (gaps === null) await copy.remove(takeId, this.camera); // not ours, or gone
      return null;
    }
    let sent = 0;
    let tried = 0; // slices sent this round (taken or refused)
    if (!gaps.complete && gaps.fill_until && gaps.now < gaps.fill_until) {
      this.#tell(takeId, "filling", sent, gaps);
      for (const stretch of stretches(gaps, this.camera)) {
        const slices = await copy.slices(takeId, this.camera, stretch.fromMs, stretch.toMs);
        for (const slice of slices) {
          const span = claim(stretch, slice);
          const key = span && [takeId, this.camera, slice.part, slice.fromMs, slice.toMs,
            Math.round(span.fromMs), Math.round(span.toMs)].join(" ");
          if (!span || this.tried.has(key)) continue;
          tried += 1;
          if (await this.#send(takeId, slice, span, key)) sent += 1;
        }
      }
      gaps = await gapsOf(takeId);
    }
    if (gaps.complete) {
      this.done.add(takeId);
      await copy.confirm(takeId);
      this.#tell(takeId, "complete", sent, gaps);
    } else if (!gaps.fill_until || gaps.now >= gaps.fill_until) {
      this.done.add(takeId);
      await copy.remove(takeId, this.camera); // too late to send: the copy helps no one
      this.#tell(takeId, "expired", sent, gaps);
    } else {
      // Nothing new to send: the rest is not in this copy (or refused); the periodic
      // check leaves the take alone until the page (re)connects.
      if (!tried) this.idle.add(takeId);
      this.#tell(takeId, "incomplete", sent, gaps);
    }
    return gaps;
  }

  /** The take's gaps once it is stored; null: not ours (404); false: not stored in time. */
  async #stored(takeId) {
    for (const wait of [0, ...WAIT_MS]) {
      if (wait) await sleep(wait);
      let gaps;
      try {
        gaps = await gapsOf(takeId);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return null;
        throw err;
      }
      if (gaps.state === "stored") return gaps;
      if (gaps.state !== "recording" && gaps.state !== "finalizing") return null;
    }
    return false;
  }

  async #send(takeId, slice, span, key) {
    const name = `fill-${takeId}-${this.camera}-${Math.round(span.fromMs)}`;
    const file = new File([slice.head, slice.tail], name, {
      type: slice.mimeType,
      lastModified: Math.round(span.fromMs),
    });
    const upload = new TusUpload(file, {
      candidateId: "fill",
      examId: takeId,
      questionId: this.camera,
      metadata: fillMetadata(takeId, this.camera, slice, span),
    });
    try {
      await upload.start();
    } catch (err) {
      // 409: filled meanwhile (another tab), 400/415: refused; the next stretch goes on.
      // Refused: not sent again; the network or the server's trouble: the next round.
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) this.tried.add(key);
      console.warn("fill refused:", err);
      return false;
    }
    if (upload.state === "done") this.tried.add(key);
    return upload.state === "done";
  }

  #tell(takeId, state, sent, gaps) {
    const missingS = Object.values(gaps.cameras || {}).flat()
      .reduce((n, g) => n + (g.end_s - g.start_s), 0);
    this.onState?.({ takeId, state, sent, missingS });
  }
}
