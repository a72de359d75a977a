// The local copy of a take: while a device streams a take to the server, it also records
// the same camera and microphone with the browser's MediaRecorder in 1 s chunks into
// origin-private storage (OPFS: lib/local-copy/opfs.js; IndexedDB where OPFS is missing:
// lib/local-copy/indexeddb.js), each chunk with its server times. After a drop the page
// uploads the chunks covering what the server lacks (lib/fill-upload.js); once the server
// has the take complete the copy is deleted (confirm). A reloaded or crashed page's chunks
// are found again (takes()).
//
//   const copy = await openLocalCopy();                 // null: no storage here
//   const take = await copy.begin({ takeId, camera: "primary", stream, clock });
//   ...; await take.stop();
//   const { head, tail } = await copy.slice(takeId, "primary", fromMs, toMs);
//   await copy.confirm(takeId);
//
// Each MediaRecorder run is a "part": its own WebM (or MP4) with its own header. A take
// recorded in one go has one part per camera; a reload mid-take (or a camera switch, which
// ends a MediaRecorder) starts another part. Times are server epoch milliseconds from the
// page's server clock (lib/clock.js).
//
// Bounded: before each chunk, navigator.storage.estimate(); when short, confirmed takes are
// removed first, then the oldest finished ones, never a take being recorded (here or in
// another tab: Web Locks); if still short the copy stops ("full") and the live stream goes
// on. Test switches: openLocalCopy({ backend, estimate }) or localStorage
// "examcast.localCopy.backend" = "opfs" | "indexeddb" | "off".

import { IndexedDbStore, indexedDbSupported } from "./local-copy/indexeddb.js";
import { OpfsStore, opfsSupported } from "./local-copy/opfs.js";

const TIMESLICE_MS = 1000;
const KEYFRAME_MS = 1000;
const VIDEO_BPS = 1_000_000;
const AUDIO_BPS = 64_000;
const MIME_TYPES = ["video/webm;codecs=vp8,opus", "video/webm", "video/mp4"];
const BEFORE_MS = 2000; // slice(): chunks this far before the range (the keyframe before it)
const AFTER_MS = 1000;
const SPARE_CHUNKS = 3; // room kept for this many chunks like the last one
const START_TIMEOUT_MS = 5000;
const MEASURE_MS = 2000; // CopyFollower: the clock's round trips, at most this long
const LOCK_PREFIX = "examcast.localCopy.";
const SWITCH_KEY = "examcast.localCopy.backend";

/** The container MediaRecorder records here ("" when none of ours). */
export function pickMimeType() {
  if (typeof MediaRecorder !== "function") return "";
  if (typeof MediaRecorder.isTypeSupported !== "function") return "";
  return MIME_TYPES.find((m) => MediaRecorder.isTypeSupported(m)) || "";
}

function testSwitch() {
  try {
    return localStorage.getItem(SWITCH_KEY);
  } catch {
    return null;
  }
}

/** The local copy on this device, or null when it has no origin-private storage. */
export async function openLocalCopy(options = {}) {
  const wanted = options.backend || testSwitch();
  if (wanted === "off") return null;
  const stores = [];
  if (wanted !== "indexeddb" && (await opfsSupported())) stores.push(() => new OpfsStore());
  if (wanted !== "opfs" && indexedDbSupported()) stores.push(() => new IndexedDbStore());
  for (const make of stores) {
    try {
      return new LocalCopy(await make().open(), options);
    } catch (err) {
      console.warn("local copy: storage refused", err);
    }
  }
  return null;
}

function serverMs(clock) {
  return Math.round(clock.now() * 1000);
}

function lockName(part) {
  return LOCK_PREFIX + part;
}

async function heldLocks() {
  if (!navigator.locks?.query) return null;
  try {
    const { held } = await navigator.locks.query();
    return new Set(held.map((l) => l.name));
  } catch {
    return null;
  }
}

function newPartId(takeId, camera) {
  const random = Math.random().toString(36).slice(2, 10);
  const safe = String(takeId).replace(/[^A-Za-z0-9_-]/g, "").slice(0, 64);
  return `${safe}.${camera}.${Date.now().toString(36)}${random}`;
}

export class LocalCopy extends EventTarget {
  constructor(store, options = {}) {
    super();
    this.store = store;
    this.backend = store.name;
    this.estimate = options.estimate
      || (() => navigator.storage?.estimate?.() ?? Promise.resolve(null));
    this.active = new Map(); // part → TakeCopy recording here
    this.evicting = Promise.resolve();
  }

  /** Starts the copy of a take on one camera; null when this browser cannot record it. */
  async begin({ takeId, camera, stream, clock }) {
    const mimeType = pickMimeType();
    if (!mimeType || !stream) return null;
    const copy = new TakeCopy(this, { takeId, camera, stream, clock, mimeType });
    await copy.start();
    return copy;
  }

  /** Every part here: what it holds, whether it is still being recorded (here or in
   * another tab), and whether the server confirmed its take. */
  async takes() {
    const held = await heldLocks();
    const parts = await this.store.parts();
    return parts.map((p) => this.describe(p, held))
      .sort((a, b) => a.startedAtMs - b.startedAtMs);
  }

  describe(p, held) {
    const recording = this.active.has(p.part)
      || (held ? held.has(lockName(p.part)) : p.endedAtMs == null);
    const last = p.chunks.at(-1);
    return {
      takeId: p.takeId,
      camera: p.camera,
      part: p.part,
      mimeType: p.mimeType,
      startedAtMs: p.startedAtMs,
      // a page that died mid-take never wrote its end: the last chunk's end
      endedAtMs: p.endedAtMs ?? (recording ? null : (last?.endMs ?? p.startedAtMs)),
      bytes: p.chunks.reduce((n, c) => n + c.size, 0),
      chunks: p.chunks.length,
      firstMs: p.chunks[0]?.startMs ?? null,
      lastMs: last?.endMs ?? null,
      confirmed: Boolean(p.confirmed),
      recording,
      stopped: p.stopped ?? null, // why the copy stopped early: "full" | "error" | null
    };
  }

  /** A part's chunks ({index, startMs, endMs, size}), in order. */
  async chunks(takeId, camera, part = null) {
    const parts = await this.store.parts();
    const found = parts.filter((p) => p.takeId === takeId && p.camera === camera
      && (!part || p.part === part));
    return found.flatMap((p) => p.chunks.map((c) => ({
      part: p.part, index: c.index, startMs: c.startMs, endMs: c.endMs, size: c.size,
    })));
  }

  /**
   * What to upload for [fromMs, toMs] (server epoch ms) of a take on one camera: the part
   * covering most of it; head = its chunk 0 (the container's header and first media),
   * tail = its chunks overlapping [fromMs - 2 s, toMs + 1 s], consecutive, concatenated;
   * fromMs / toMs = the span the tail's chunks cover. Null when none covers any of it.
   */
  async slice(takeId, camera, fromMs, toMs) {
    return (await this.slices(takeId, camera, fromMs, toMs))[0] ?? null;
  }

  /** slice() of every part that covers some of [fromMs, toMs], the most first. */
  async slices(takeId, camera, fromMs, toMs) {
    const parts = (await this.store.parts())
      .filter((p) => p.takeId === takeId && p.camera === camera && p.chunks[0]?.index === 0);
    const found = [];
    for (const p of parts) {
      const from = fromMs - BEFORE_MS;
      const to = toMs + AFTER_MS;
      const run = [];
      for (const c of p.chunks) {
        if (c.endMs <= from || c.startMs >= to) continue;
        if (run.length && c.index !== run.at(-1).index + 1) break; // a chunk missing
        run.push(c);
      }
      if (!run.length) continue;
      const covered = Math.min(toMs, run.at(-1).endMs) - Math.max(fromMs, run[0].startMs);
      found.push({ p, run, covered });
    }
    found.sort((a, b) => b.covered - a.covered);
    const slices = [];
    for (const { p, run } of found) {
      const [head] = await this.store.chunkBlobs(p.part, [p.chunks[0]]);
      const tail = await this.store.chunkBlobs(p.part, run);
      slices.push({
        head: new Blob([head], { type: p.mimeType }),
        tail: new Blob(tail, { type: p.mimeType }),
        mimeType: p.mimeType,
        startedAtMs: p.startedAtMs,
        fromMs: run[0].startMs,
        toMs: run.at(-1).endMs,
        part: p.part,
        chunks: run.map((c) => c.index),
      });
    }
    return slices;
  }

  /** Deletes a take's copy (one camera, or all), but not a part being recorded. */
  async remove(takeId, camera = null) {
    const held = await heldLocks();
    for (const p of await this.store.parts()) {
      if (p.takeId !== takeId || (camera && p.camera !== camera)) continue;
      if (this.describe(p, held).recording) continue;
      await this.store.removePart(p.part);
    }
  }

  /** The server has the take complete: its copy is deleted (a part still being recorded
   * is marked and deleted when it stops, or by the quota check). */
  async confirm(takeId) {
    const held = await heldLocks();
    for (const p of await this.store.parts()) {
      if (p.takeId !== takeId) continue;
      if (this.describe(p, held).recording) {
        await this.store.updatePart(p.part, { confirmed: true });
        const mine = this.active.get(p.part);
        if (mine) mine.confirmed = true;
      } else {
        await this.store.removePart(p.part);
      }
    }
  }

  /**
   * Room for ``need`` more bytes: removes confirmed takes, then the oldest finished ones
   * (never one of ``keepTakeId`` or any take being recorded). False when still short.
   */
  async makeRoom(need, keepTakeId) {
    const run = this.evicting.then(() => this.evict(need, keepTakeId));
    this.evicting = run.catch(() => {});
    return run;
  }

  async evict(need, keepTakeId) {
    let estimate;
    try {
      estimate = await this.estimate();
    } catch {
      estimate = null;
    }
    if (!estimate || typeof estimate.quota !== "number") return true; // cannot tell: go on
    let free = estimate.quota - (estimate.usage || 0);
    if (free >= need) return true;
    const held = await heldLocks();
    const all = (await this.store.parts()).map((p) => this.describe(p, held));
    const busy = new Set(all.filter((t) => t.recording).map((t) => t.takeId));
    busy.add(keepTakeId);
    const order = all.filter((t) => !busy.has(t.takeId))
      .sort((a, b) => (Number(b.confirmed) - Number(a.confirmed))
        || (a.startedAtMs - b.startedAtMs));
    for (const t of order) {
      await this.store.removePart(t.part);
      this.dispatchEvent(new CustomEvent("evicted", { detail: t }));
      free += t.bytes;
      if (free >= need) return true;
    }
    return false;
  }
}

export class TakeCopy {
  constructor(copy, { takeId, camera, stream, clock, mimeType }) {
    this.copy = copy;
    this.takeId = takeId;
    this.camera = camera;
    this.stream = stream;
    this.clock = clock;
    this.mimeType = mimeType;
    this.startedAtMs = null;
    this.part = null;
    this.recorder = null;
    this.index = 0;
    this.lastMs = null;
    this.writes = Promise.resolve();
    this.stopping = false;
    this.stopped = null; // why it stopped by itself: "full" | "error"
    this.confirmed = false;
    this.releaseLock = null;
    this.parts = []; // every part this copy recorded (a camera switch starts another)
    // The page goes away (reload, close, a phone's tab in the background): the recorder's
    // partial chunk is asked for at once and stored the quickest way (``urgent``: no quota
    // check; OPFS puts it in its IndexedDB rescue store), while the page still runs.
    this.urgent = false;
    this.flush = () => {
      if (this.recorder?.state !== "recording") return;
      this.urgent = true;
      this.recorder.requestData();
    };
    this.flushHidden = () => {
      if (document.visibilityState === "hidden") this.flush();
    };
    this.listening = false;
  }

  /** Flush on beforeunload / pagehide / hidden while recording (off once stopped). */
  listen(on) {
    if (on === this.listening || typeof window === "undefined") return;
    this.listening = on;
    const method = on ? "addEventListener" : "removeEventListener";
    window[method]("beforeunload", this.flush);
    window[method]("pagehide", this.flush);
    document[method]("visibilitychange", this.flushHidden);
  }

  /** Starts a part: a MediaRecorder run on the stream's current tracks. */
  async start() {
    const options = {
      mimeType: this.mimeType,
      videoBitsPerSecond: VIDEO_BPS,
      audioBitsPerSecond: AUDIO_BPS,
      videoKeyFrameIntervalDuration: KEYFRAME_MS,
    };
    let recorder;
    try {
      recorder = new MediaRecorder(this.stream, options);
    } catch (err) {
      console.warn("local copy: MediaRecorder refused", err);
      this.stopped = "error";
      return;
    }
    const part = newPartId(this.takeId, this.camera);
    this.recorder = recorder;
    this.part = part;
    this.parts.push(part);
    this.index = 0;
    this.copy.active.set(part, this);
    await this.holdLock(part);
    const started = new Promise((resolve, reject) => {
      recorder.addEventListener("start", resolve, { once: true });
      recorder.addEventListener("error", (e) => reject(e.error || e), { once: true });
      setTimeout(() => reject(new Error("MediaRecorder did not start")), START_TIMEOUT_MS);
    });
    recorder.addEventListener("dataavailable", (event) => this.onData(recorder, part, event));
    recorder.addEventListener("error", (event) => this.onError(recorder, event));
    recorder.addEventListener("stop", () => this.onStop(recorder));
    try {
      recorder.start(TIMESLICE_MS);
      await started;
    } catch (err) {
      console.warn("local copy: recording did not start", err);
      this.copy.active.delete(part);
      this.releaseLock?.();
      this.recorder = null;
      this.stopped = "error";
      return;
    }
    this.listen(true);
    this.startedAtMs ??= serverMs(this.clock);
    this.lastMs = serverMs(this.clock);
    const meta = {
      part, takeId: this.takeId, camera: this.camera, mimeType: recorder.mimeType
        || this.mimeType, startedAtMs: this.lastMs, endedAtMs: null, confirmed: false,
      stopped: null,
    };
    this.mimeType = meta.mimeType;
    this.writes = this.writes.then(() => this.copy.store.createPart(meta));
  }

  async holdLock(part) {
    if (!navigator.locks?.request) return;
    await new Promise((held) => {
      navigator.locks.request(lockName(part), () => {
        held();
        return new Promise((release) => { this.releaseLock = release; });
      }).catch(() => held());
    });
  }

  onData(recorder, part, event) {
    const blob = event.data;
    if (!blob?.size) return;
    const startMs = this.lastMs;
    const endMs = Math.max(serverMs(this.clock), startMs);
    this.lastMs = endMs;
    const chunk = { index: this.index, startMs, endMs };
    this.index += 1;
    const urgent = this.urgent;
    this.urgent = false;
    this.writes = this.writes.then(() => this.write(recorder, part, chunk, blob, urgent));
  }

  async write(recorder, part, chunk, blob, urgent = false) {
    if (this.stopped) return;
    try {
      if (!urgent && !(await this.copy.makeRoom(blob.size * SPARE_CHUNKS, this.takeId))) {
        this.giveUp("full");
        return;
      }
      await this.copy.store.writeChunk(part, chunk, blob, urgent);
    } catch (err) {
      console.warn("local copy: a chunk was not stored", err);
      this.giveUp(err?.name === "QuotaExceededError" ? "full" : "error");
    }
  }

  /** Stops copying by itself (no room, storage failed); the live stream goes on. */
  giveUp(reason) {
    if (this.stopped) return;
    this.stopped = reason;
    this.listen(false);
    const recorder = this.recorder;
    this.recorder = null;
    if (recorder && recorder.state !== "inactive") recorder.stop();
    const part = this.part;
    this.copy.store.updatePart(part, { stopped: reason, endedAtMs: this.lastMs })
      .catch(() => {});
    this.finishPart(part);
    this.copy.dispatchEvent(new CustomEvent("stopped", {
      detail: { takeId: this.takeId, camera: this.camera, reason },
    }));
  }

  finishPart(part) {
    this.copy.active.delete(part);
    const release = this.releaseLock;
    this.releaseLock = null;
    // after the chunks queued so far are written
    this.writes.finally(() => release?.());
  }

  onError(recorder, event) {
    console.warn("local copy: MediaRecorder error", event.error || event);
  }

  /** A run that ended without stop(): the tracks changed (camera switched) or the
   * recorder failed. The copy goes on in a new part while the stream is live. */
  onStop(recorder) {
    if (this.recorder !== recorder || this.stopping || this.stopped) return;
    const part = this.part;
    const endedAtMs = this.lastMs;
    this.writes = this.writes.then(() => this.copy.store.updatePart(part, { endedAtMs }))
      .catch(() => {});
    this.finishPart(part);
    this.recorder = null;
    const live = this.stream.getTracks().some((t) => t.readyState === "live");
    if (live) this.start().catch((err) => console.warn(err));
  }

  /** Stops the copy: the last chunk is stored, the part gets its end. */
  async stop() {
    if (this.stopping) return this.writes;
    this.stopping = true;
    this.listen(false);
    const recorder = this.recorder;
    const part = this.part;
    if (recorder && recorder.state !== "inactive") {
      const ended = new Promise((resolve) => {
        recorder.addEventListener("stop", resolve, { once: true });
        setTimeout(resolve, START_TIMEOUT_MS);
      });
      recorder.stop();
      await ended;
    }
    this.recorder = null;
    if (part && !this.stopped) {
      const endedAtMs = this.lastMs;
      this.writes = this.writes.then(() => this.copy.store.updatePart(part, { endedAtMs }))
        .catch((err) => console.warn(err));
      this.finishPart(part);
    }
    await this.writes;
    if (this.confirmed) await this.copy.confirm(this.takeId);
  }
}

/**
 * A page's copy of whatever take its camera is recording now: follow(takeId, stream)
 * after each change (null: none); it begins and stops copies as the take changes. The
 * clock (a ServerClock) is the page's, kept by its heartbeat; or, with ``fetchNow``
 * (resolves to the server's ``now``), synced by round trips before each copy.
 * ``onStopped(reason)`` when a copy stops by itself ("full": no room); ``onEnded(takeId)``
 * once the copy of a take is stopped and stored because the page no longer records it
 * (the take stopped, or the server stopped it while the page was away): time to fill.
 */
export class CopyFollower {
  constructor({ camera, clock, fetchNow = null, onStopped = null, onEnded = null }) {
    this.camera = camera;
    this.clock = clock;
    this.fetchNow = fetchNow;
    this.onStopped = onStopped;
    this.onEnded = onEnded;
    this.takeId = null;
    this.stream = null;
    this.current = null;
    this.queue = Promise.resolve();
    this.opened = null;
  }

  /** The local copy (opened once; null when there is none). */
  open() {
    this.opened ??= openLocalCopy().then((copy) => {
      copy?.addEventListener("stopped", (e) => {
        if (e.detail.camera === this.camera) this.onStopped?.(e.detail.reason);
      });
      return copy;
    }).catch((err) => {
      console.warn(err);
      return null;
    });
    return this.opened;
  }

  follow(takeId, stream = this.stream) {
    const want = takeId && stream ? takeId : null;
    if (want === this.takeId && (!want || stream === this.stream)) return this.queue;
    this.takeId = want;
    this.stream = stream;
    this.queue = this.queue.then(() => this.switchTo(want, stream)).catch((err) => {
      console.warn("local copy:", err);
    });
    return this.queue;
  }

  async switchTo(takeId, stream) {
    const old = this.current;
    this.current = null;
    if (old) await old.stop();
    if (old && old.takeId !== takeId) this.onEnded?.(old.takeId);
    if (!takeId) return;
    const copy = await this.open();
    if (!copy || !pickMimeType()) return;
    if (this.fetchNow) {
      const bound = new Promise((resolve) => { setTimeout(resolve, MEASURE_MS); });
      await Promise.race([this.clock.measure(this.fetchNow), bound]);
    }
    if (this.takeId !== takeId) return; // the take changed meanwhile
    this.current = await copy.begin({ takeId, camera: this.camera, stream, clock: this.clock });
  }
}
