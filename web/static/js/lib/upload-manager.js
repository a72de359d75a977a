// The page's resumable uploads of answer files (tus: ./tus.js). One manager per page
// (``uploads``) holds every file sent from this page — an offline question's files, a
// material's files, or an interrupted upload continued from the list of unfinished
// uploads — and the server's list of them (GET /api/exams/{id}/uploads). The parts of
// the page (answer-files.js, unfinished-uploads.js) draw from it and listen to it.
//
// An item: {id, file, name, size, scope: {examId, questionId, material}, state, offset,
// uploadId, error, resumedFrom}. States: waiting, uploading, paused, retrying, done,
// failed (``error``: an ApiError, or a reason found before sending: {text}).
//
// Picked again after a reload, the same file (same candidate, question, name, size and
// modification time: the fingerprint) continues its upload from the server's offset.

import { api, ApiError, routeCalls } from "./api.js";
import {
  ENDPOINT, TusUpload, deviceId, fingerprint, forgetUpload, restartUpload, storedUploads,
} from "./tus.js";

const PARALLEL = 2; // files sent at once; the others wait
// Tests set a small chunk size here, to pause an upload mid-way.
const CHUNK_KEY = "examcast.uploadChunkBytes";
const LIVE = new Set(["waiting", "uploading", "retrying"]);
// A page sending an upload says so here every few seconds: another page of this browser
// (a reload, a second tab) tells "uploading elsewhere" from "interrupted" by it. (The
// server's own "uploading" lasts its idle time, 30 s, after the last byte.)
const BEAT_PREFIX = "examcast.uploadBeat.";
const BEAT_MS = 2000;

/** Why a file picked to continue an upload cannot continue it (code: mismatch, no_record). */
export class ResumeProblem extends Error {
  constructor(code, name) {
    super(code);
    this.code = code;
    this.name = name;
  }
}

export class UploadManager {
  constructor() {
    this.items = [];
    this.listings = new Map(); // exam id → the server's list of unfinished uploads
    this.listeners = new Set();
    this._me = null;
    this._seq = 0;
    this._loading = new Map();
    window.addEventListener("beforeunload", (event) => {
      if (!this.active) return;
      event.preventDefault(); // the browser asks "leave this page?"; what arrived stays
      event.returnValue = "";
    });
    window.addEventListener("pagehide", () => this._beat(true));
    setInterval(() => this._beat(), BEAT_MS);
  }

  /** True when another page of this browser is sending ``uploadId`` right now. */
  busyElsewhere(uploadId) {
    if (this.byUpload(uploadId)) return false;
    try {
      const at = Number(localStorage.getItem(BEAT_PREFIX + uploadId));
      return at > 0 && Date.now() - at < BEAT_MS * 3;
    } catch {
      return false;
    }
  }

  _beat(leaving = false) {
    try {
      for (const item of this.items) {
        if (!item.uploadId) continue;
        const key = BEAT_PREFIX + item.uploadId;
        if (!leaving && LIVE.has(item.state)) localStorage.setItem(key, String(Date.now()));
        else localStorage.removeItem(key);
      }
    } catch {
      // storage blocked: other pages show the server's word instead
    }
  }

  /** True while a file is being sent (or waits to be). */
  get active() {
    return this.items.some((item) => LIVE.has(item.state));
  }

  /** ``fn(type, item)``: add, state, progress, created, done, remove, listing. */
  on(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(type, item = null) {
    for (const fn of this.listeners) fn(type, item);
  }

  /** The logged-in candidate's id (part of every upload's fingerprint); from then on the
   * page's calls carry it as ``c=`` (lib/api.js routeCalls). */
  candidate() {
    if (!this._me) {
      this._me = api("GET", "/api/me").then((me) => {
        // The uploads' bytes stay on one node: every call goes to the candidate's (c=).
        routeCalls(me.account.id);
        return me.account.id;
      });
      this._me.catch(() => {
        this._me = null;
      });
    }
    return this._me;
  }

  /** Items of one question (and material: null for an offline question's files). */
  of({ examId, questionId, material = null }) {
    return this.items.filter((i) => i.scope.examId === examId && i.scope.questionId === questionId
      && (i.scope.material || null) === material);
  }

  byUpload(uploadId) {
    return this.items.find((i) => i.uploadId && i.uploadId === uploadId) || null;
  }

  /** This browser's record of an upload it began (from the fingerprint store), or null. */
  async record(examId, uploadId) {
    const candidateId = await this.candidate();
    return storedUploads({ candidateId, examId }).find((r) => r.uploadId === uploadId) || null;
  }

  /** The record of an upload of ``file`` this browser began for ``scope``: picked again,
   * the file continues it. */
  async recordOf(file, scope) {
    const candidateId = await this.candidate();
    const key = fingerprint({ candidateId, ...scope }, file);
    return storedUploads({ candidateId, examId: scope.examId })
      .find((r) => r.fingerprint === key) || null;
  }

  /**
   * Send ``file`` for ``scope``; ``problem``: a reason found before sending (the row shows
   * it and nothing is sent); ``url``: an upload of this file to continue.
   */
  add(file, scope, { problem = null, url = null, uploadId = null } = {}) {
    const item = {
      id: (this._seq += 1),
      file,
      name: file.name,
      size: file.size,
      scope: { examId: scope.examId, questionId: scope.questionId, material: scope.material || null },
      state: problem ? "failed" : "waiting",
      offset: 0,
      uploadId,
      url,
      error: problem ? { text: problem } : null,
      resumedFrom: null,
      up: null,
    };
    this.items.push(item);
    this.emit("add", item);
    if (!problem) this._pump();
    return item;
  }

  /**
   * Continue the upload ``uploadId`` of ``examId`` with ``file``, picked again: only the
   * file this browser began it with (same name, size and modification time) may.
   */
  async resumeWith(file, examId, uploadId, name = "") {
    const live = this.byUpload(uploadId);
    if (live && LIVE.has(live.state)) return live;
    const record = await this.record(examId, uploadId);
    if (!record) throw new ResumeProblem("no_record", name || file.name);
    if (record.name !== file.name || record.size !== file.size
      || record.lastModified !== file.lastModified) {
      throw new ResumeProblem("mismatch", record.name);
    }
    if (live) this.items = this.items.filter((i) => i !== live); // a failed try: this replaces it
    const scope = {
      examId: record.examId, questionId: record.questionId, material: record.material,
    };
    return this.add(file, scope, { url: record.url, uploadId });
  }

  /**
   * Send ``file`` from its first byte as the pending file ``uploadId`` of ``scope``: the
   * file the upload began with is lost and this is a copy (same size; the caller checks).
   * What had arrived is deleted on the server.
   */
  async restartWith(file, scope, uploadId) {
    const url = ENDPOINT + encodeURIComponent(uploadId);
    const live = this.byUpload(uploadId);
    if (live?.up) live.up.pause();
    await restartUpload(url);
    if (live) this.items = this.items.filter((i) => i !== live);
    await this.forget(scope.examId, uploadId); // the lost file's record
    return this.add(file, scope, { url, uploadId });
  }

  pause(item) {
    if (item.up) item.up.pause();
    else if (item.state === "waiting") this._set(item, "paused");
  }

  resume(item) {
    if (!["paused", "failed"].includes(item.state) || item.error?.text) return;
    item.error = null;
    if (item.up) this._drive(item, item.up.resume());
    else {
      this._set(item, "waiting");
      this._pump();
    }
  }

  /** Stop and delete the upload on the server (the file leaves the answer). */
  async cancel(item) {
    if (item.up) await item.up.cancel(); // throws when the server refuses (submitted)
    this.remove(item);
  }

  /** Drop this browser's record of an upload (its file left the answer). */
  async forget(examId, uploadId) {
    const record = await this.record(examId, uploadId).catch(() => null);
    if (record) forgetUpload(record.fingerprint);
  }

  /** Take a row off the page (a refused file, a finished one). */
  remove(item) {
    if (!this.items.includes(item)) return;
    item.state = "removed";
    this._beat();
    this.items = this.items.filter((i) => i !== item);
    this.emit("remove", item);
  }

  // -- the server's list of unfinished uploads -------------------------------------------

  /** Load GET /api/exams/{examId}/uploads for this device (one request at a time). */
  loadListing(examId) {
    if (this._loading.has(examId)) return this._loading.get(examId);
    const path = `/api/exams/${encodeURIComponent(examId)}/uploads`
      + `?device_id=${encodeURIComponent(deviceId())}`;
    const loading = api("GET", path).then((data) => {
      this.listings.set(examId, data);
      this.emit("listing", null);
      return data;
    }).finally(() => this._loading.delete(examId));
    this._loading.set(examId, loading);
    return loading;
  }

  /** This device's entry for ``uploadId`` in the last list loaded, or null. */
  entry(examId, uploadId) {
    return this.listings.get(examId)?.this_device.find((e) => e.upload_id === uploadId) || null;
  }

  // -- sending ---------------------------------------------------------------------------

  _pump() {
    // Created one after another, in the order picked (the answer lists them so); sent
    // side by side once created.
    if (this.items.some((i) => !i.uploadId && ["uploading", "retrying"].includes(i.state))) {
      return;
    }
    let running = this.items.filter((i) => ["uploading", "retrying"].includes(i.state)).length;
    for (const item of this.items) {
      if (running >= PARALLEL) break;
      if (item.state !== "waiting" || item.up) continue;
      running += 1;
      this._start(item);
      if (!item.uploadId) break; // the next one once this one exists on the server
    }
  }

  async _start(item) {
    this._set(item, "uploading");
    let candidateId;
    try {
      candidateId = await this.candidate();
    } catch (err) {
      this._failed(item, err);
      return;
    }
    const options = { candidateId, ...item.scope };
    if (item.url) options.url = item.url;
    const chunk = Number(localStorage.getItem(CHUNK_KEY));
    if (chunk > 0) options.chunkSize = chunk;
    const up = new TusUpload(item.file, options);
    item.up = up;
    const continuing = Boolean(up.url);
    let first = true;
    up.addEventListener("progress", (event) => {
      item.offset = event.detail.offset;
      if (first) {
        first = false;
        // The first offset of an upload found again is the server's: where it goes on.
        if (continuing && item.offset > 0) item.resumedFrom = item.offset;
      }
      if (up.uploadId && item.uploadId !== up.uploadId) {
        item.uploadId = up.uploadId;
        this.emit("created", item);
        this._pump();
      }
      this.emit("progress", item);
    });
    up.addEventListener("statechange", (event) => {
      const { state } = event.detail;
      if (state !== "idle" && state !== "done" && state !== "failed") this._set(item, state);
    });
    this._drive(item, up.start());
  }

  async _drive(item, running) {
    try {
      await running;
      if (item.up.state === "done") {
        item.offset = item.size;
        this._set(item, "done");
        this.emit("done", item);
      }
    } catch (err) {
      this._failed(item, err);
    } finally {
      this._pump();
    }
  }

  _failed(item, err) {
    item.error = err instanceof ApiError ? err : new ApiError(0, "network", String(err));
    this._set(item, "failed");
  }

  _set(item, state) {
    if (item.state === state) return;
    item.state = state;
    this._beat();
    this.emit("state", item);
  }
}

/** The page's one manager. */
export const uploads = new UploadManager();
