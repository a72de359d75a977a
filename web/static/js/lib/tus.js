// Resumable uploads of answer files: a small tus 1.0 client for our server
// (docs/uploads.md). One TusUpload per file: it creates the upload for a
// question (or a file material), sends the file in PATCHes with a SHA-1
// checksum each, reports progress, pauses and resumes, retries after network
// errors, and finds its upload again after a reload: the upload's URL is kept
// in localStorage under a fingerprint of candidate, exam, question, material
// and the file's name, size and lastModified.
//
// Progress is the server's acknowledged offset: bytes on the wire that a drop
// would lose are not counted (a page saying 8% while the server holds 0% misleads).
// The PATCH size follows the link: it starts at 256 KiB and aims at a few seconds
// per PATCH (64 KiB to 8 MiB), and halves after a failure, so a slow phone link
// never risks megabytes on one request.
//
//   import { TusUpload } from "./tus.js";
//   const up = new TusUpload(file, { candidateId, examId, questionId });
//   up.addEventListener("progress", (e) => bar.value = e.detail.fraction);
//   up.addEventListener("statechange", (e) => row.dataset.state = e.detail.state);
//   try { await up.start(); } catch (err) { show(err.code, err.message); }
//   up.pause(); up.resume(); await up.cancel();
//
// States: idle, uploading, paused, retrying (network), done, failed.
// Errors are ApiError: code "unreadable" (文件异常: the browser can no longer
// read the file), "upload_expired" (410: too late), "unsupported_media_type"
// (415: the file is not what its name says), "too_large", "conflict" (409:
// e.g. the question takes no more files), "network" (retries ran out), ...

import { ApiError, routed } from "./api.js";

export const ENDPOINT = "/api/uploads/";
export const CHUNK_MAX = 8 * 1024 * 1024;
export const CHUNK_MIN = 64 * 1024;
export const CHUNK_START = 256 * 1024;
export const CHUNK_TARGET_S = 3; // seconds a PATCH should take on the link measured
export const RETRY_DELAYS_MS = [1000, 3000, 5000, 10000, 20000, 30000];
const TUS_VERSION = "1.0.0";
const STORE_PREFIX = "examcast.tus.";
const DEVICE_KEY = "examcast.device_id";

/** This browser's device id: random, kept in localStorage (sent with every upload). */
export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = (crypto.randomUUID ? crypto.randomUUID() : randomHex(16)).replace(/[^A-Za-z0-9-]/g, "");
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** A name people recognise this device by, e.g. "Xiaomi MI 5", "iPhone", "Chrome · Windows". */
export function deviceName(userAgent = navigator.userAgent) {
  const android = /Android [^;)]*;\s*(?:[a-z]{2}[-_][A-Za-z]{2};\s*)?([^;)]+?)(?:\s+Build\/|\))/.exec(
    userAgent,
  );
  if (android && android[1] && !/^(wv|K)$/.test(android[1].trim())) {
    const model = android[1].trim();
    return /^(MI|Redmi|M\d)/i.test(model) ? `Xiaomi ${model}` : model;
  }
  for (const apple of ["iPhone", "iPad"]) if (userAgent.includes(apple)) return apple;
  const browser = /Edg\//.test(userAgent) ? "Edge"
    : /Firefox\//.test(userAgent) ? "Firefox"
      : /Chrome\//.test(userAgent) ? "Chrome"
        : /Safari\//.test(userAgent) ? "Safari" : "Browser";
  const system = /Windows/.test(userAgent) ? "Windows"
    : /Mac OS X/.test(userAgent) ? "macOS"
      : /Android/.test(userAgent) ? "Android"
        : /Linux/.test(userAgent) ? "Linux" : "";
  return system ? `${browser} · ${system}` : browser;
}

/** The key an upload of ``file`` for this candidate and question is kept under. */
export function fingerprint({ candidateId, examId, questionId, material = null }, file) {
  return [
    "tus", candidateId, examId, questionId, material || "",
    file.name, file.size, file.lastModified,
  ].join(":");
}

/**
 * Uploads begun in this browser and not finished, for the page's list (续传) and to
 * match a file picked again after a reload: ``[{fingerprint, url, uploadId, name, size,
 * lastModified, candidateId, examId, questionId, material, createdAt}]``.
 */
export function storedUploads({ candidateId, examId = null, questionId = null } = {}) {
  const found = [];
  for (let i = 0; i < localStorage.length; i += 1) {
    const key = localStorage.key(i);
    if (!key || !key.startsWith(STORE_PREFIX)) continue;
    let record;
    try {
      record = JSON.parse(localStorage.getItem(key));
    } catch {
      continue;
    }
    if (!record || (candidateId && record.candidateId !== candidateId)) continue;
    if (examId && record.examId !== examId) continue;
    if (questionId && record.questionId !== questionId) continue;
    found.push({ fingerprint: key.slice(STORE_PREFIX.length), ...record });
  }
  return found;
}

/** Forget a stored upload (the page showed 文件异常 and the candidate gave up on it). */
export function forgetUpload(key) {
  localStorage.removeItem(STORE_PREFIX + key);
}

/**
 * The next PATCH size after ``bytes`` were acknowledged in ``seconds``: what the link
 * carries in CHUNK_TARGET_S, at most twice the last one, 64 KiB steps, 64 KiB to 8 MiB.
 */
export function nextChunkSize(current, bytes, seconds) {
  const rate = bytes / Math.max(seconds, 0.001);
  const wanted = Math.min(rate * CHUNK_TARGET_S, current * 2);
  const stepped = Math.floor(wanted / CHUNK_MIN) * CHUNK_MIN;
  return Math.max(CHUNK_MIN, Math.min(CHUNK_MAX, stepped));
}

export class TusUpload extends EventTarget {
  /**
   * ``options``: candidateId, examId, questionId (required); material (a file material's
   * key); url (an upload to continue, e.g. from GET /api/exams/{id}/uploads); chunkSize
   * (a fixed PATCH size; default: it adapts to the link); checksum (default true: SHA-1
   * per PATCH when the page is a secure context); retryDelays (ms); endpoint; now (a
   * clock in seconds, for tests); metadata (Upload-Metadata to send instead of the
   * answer file's: a take's fill, lib/fill-upload.js; such an upload is not kept in
   * localStorage, its page asks the server again after a reload).
   */
  constructor(file, options) {
    super();
    for (const key of ["candidateId", "examId", "questionId"]) {
      if (!options?.[key]) throw new TypeError(`TusUpload needs options.${key}`);
    }
    this.file = file;
    this.options = {
      endpoint: ENDPOINT,
      chunkSize: null,
      checksum: true,
      now: () => performance.now() / 1000,
      retryDelays: RETRY_DELAYS_MS,
      material: null,
      url: null,
      ...options,
    };
    this.key = fingerprint(this.options, file);
    this.url = this.options.url || this.#stored()?.url || null;
    this.offset = 0; // acknowledged by the server
    this.chunkSize = this.options.chunkSize || CHUNK_START;
    this.state = "idle";
    this.error = null;
    this._xhr = null;
    this._running = null;
    this._retries = 0;
  }

  get size() {
    return this.file.size;
  }

  /** The upload's id: also the file's id in the answer (``file_id``). */
  get uploadId() {
    return this.url ? uploadIdOf(this.url) : null;
  }

  get fraction() {
    return this.size ? this.offset / this.size : 1;
  }

  /** Start or resume; resolves when every byte is on the server (and checked). */
  start() {
    if (this._running) return this._running;
    this._running = this.#run().finally(() => {
      this._running = null;
    });
    return this._running;
  }

  /** Stop sending; what reached the server stays there. ``start()`` or ``resume()`` goes on. */
  pause() {
    if (this.state === "done" || this.state === "failed") return;
    this.#setState("paused");
    this._xhr?.abort();
  }

  resume() {
    if (this.state === "paused" || this.state === "idle" || this.state === "failed") {
      return this.start();
    }
    return this._running || Promise.resolve();
  }

  /** Termination: the file leaves the answer (refused once the answer is submitted). */
  async cancel() {
    this.pause();
    await this._running?.catch(() => {});
    if (this.url) {
      const reply = await request("DELETE", this.url, { "Tus-Resumable": TUS_VERSION });
      if (reply.status !== 204 && reply.status !== 404) throw errorOf(reply);
    }
    this.#forget();
    this.#setState("idle");
  }

  async #run() {
    this.error = null;
    this._retries = 0;
    this.#setState("uploading");
    for (;;) {
      try {
        if (!this.url) await this.#create();
        else await this.#head();
        this.#reached(); // the server answered: the connection is back
        while (this.offset < this.size) {
          if (this.state === "paused") return;
          await this.#patch();
          this._retries = 0;
        }
        this.#forget();
        this.#setState("done");
        this.dispatchEvent(new CustomEvent("success", { detail: { url: this.url } }));
        return;
      } catch (err) {
        if (this.state === "paused") return;
        const error = err instanceof ApiError ? err : new ApiError(0, "network", String(err));
        if (!this.#retryable(error)) return this.#fail(error);
        const delay = this.options.retryDelays[this._retries];
        if (delay === undefined) return this.#fail(error);
        this._retries += 1;
        // A link that failed: smaller PATCHes until it proves itself again.
        if (!this.options.chunkSize) this.chunkSize = Math.max(CHUNK_MIN, this.chunkSize / 2);
        this.#setState("retrying");
        await backOff(delay); // or sooner, when the browser says it is online again
        if (this.state === "paused") return;
      }
    }
  }

  async #create() {
    await readable(this.file); // an unreadable file must not become a pending file
    const meta = this.options.metadata
      ? { ...this.options.metadata, device_id: deviceId(), device_name: deviceName() }
      : {
        filename: this.file.name,
        filetype: this.file.type || "",
        exam_id: this.options.examId,
        question_id: this.options.questionId,
        device_id: deviceId(),
        device_name: deviceName(),
      };
    if (this.options.material) meta.material = this.options.material;
    const reply = await request("POST", this.options.endpoint, {
      "Tus-Resumable": TUS_VERSION,
      "Upload-Length": String(this.size),
      "Upload-Metadata": encodeMetadata(meta),
    });
    if (reply.status !== 201) throw errorOf(reply);
    // with its query: ``c=`` sends HEAD and PATCH to the node that holds the bytes
    const where = new URL(reply.header("Location"), location.href);
    this.url = where.pathname + where.search;
    this.offset = Number(reply.header("Upload-Offset") || 0);
    this.#remember();
    this.#progress(this.offset);
  }

  async #head() {
    const reply = await request("HEAD", this.url, { "Tus-Resumable": TUS_VERSION });
    if (reply.status === 410) {
      // Too late (the upload time is over): say so rather than start again.
      this.#forget();
      throw new ApiError(410, "upload_expired", "the time to finish this upload has passed");
    }
    if (reply.status === 404 || reply.status === 403) {
      // gone (or refused): begin again; the server says if it may not be
      this.#forget();
      this.url = null;
      return this.#create();
    }
    if (reply.status !== 200) throw errorOf(reply);
    this.offset = Number(reply.header("Upload-Offset"));
    if (!this.#stored()) this.#remember(); // given its URL: found again after a reload
    this.#progress(this.offset);
  }

  async #patch() {
    const end = Math.min(this.offset + this.chunkSize, this.size);
    const body = await readable(this.file, this.offset, end);
    const headers = {
      "Tus-Resumable": TUS_VERSION,
      "Upload-Offset": String(this.offset),
      "Content-Type": "application/offset+octet-stream",
    };
    const digest = await sha1(body, this.options.checksum);
    if (digest) headers["Upload-Checksum"] = `sha1 ${digest}`;
    const start = this.offset;
    const began = this.options.now();
    const reply = await request("PATCH", this.url, headers, body, (sent) => {
      if (sent > 0) this.#reached(); // bytes flow again: no longer "retrying"
    }, (xhr) => {
      this._xhr = xhr;
    });
    this._xhr = null;
    if (reply.status === 204) {
      this.offset = Number(reply.header("Upload-Offset"));
      if (!this.options.chunkSize && this.offset > start) {
        this.chunkSize = nextChunkSize(this.chunkSize, this.offset - start,
          this.options.now() - began);
      }
      this.#reached();
      this.#progress(this.offset);
      return;
    }
    if (reply.status === 409 && reply.code === "offset_mismatch") {
      this.offset = Number(reply.details.offset ?? this.offset);
      return this.#head();
    }
    throw errorOf(reply);
  }

  #retryable(error) {
    // the network, the server busy or restarting, a checksum spoiled on the way, a newer
    // request of ours that took over: try again (from HEAD)
    return error.status === 0 && error.code !== "unreadable"
      || error.status >= 500 || error.status === 423 || error.status === 460
      || error.code === "upload_interrupted";
  }

  #fail(error) {
    this.error = error;
    if (error.status === 404 || error.status === 410 || error.status === 415) this.#forget();
    this.#setState("failed");
    this.dispatchEvent(new CustomEvent("error", { detail: { error } }));
    throw error;
  }

  /** The server is reachable (it answered, or took bytes): "retrying" is over. */
  #reached() {
    if (this.state === "retrying") this.#setState("uploading");
  }

  #progress(offset) {
    const detail = { offset, size: this.size, fraction: this.size ? offset / this.size : 1 };
    this.dispatchEvent(new CustomEvent("progress", { detail }));
  }

  #setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("statechange", { detail: { state } }));
  }

  #stored() {
    try {
      return JSON.parse(localStorage.getItem(STORE_PREFIX + this.key));
    } catch {
      return null;
    }
  }

  #remember() {
    const o = this.options;
    if (o.metadata) return; // not an answer file: not listed among the unfinished uploads
    localStorage.setItem(STORE_PREFIX + this.key, JSON.stringify({
      url: this.url,
      uploadId: this.uploadId,
      name: this.file.name,
      size: this.file.size,
      lastModified: this.file.lastModified,
      candidateId: o.candidateId,
      examId: o.examId,
      questionId: o.questionId,
      material: o.material,
      createdAt: Date.now(),
    }));
  }

  #forget() {
    localStorage.removeItem(STORE_PREFIX + this.key);
  }
}

/** Delete what arrived of the upload at ``url``: its file is sent again from byte 0 (a
 * copy of a lost file, docs/uploads.md). Throws the server's refusal as an ApiError. */
export async function restartUpload(url) {
  const where = new URL(url, location.href);
  const reply = await request("POST", `${where.pathname}/restart${where.search}`, {
    "Tus-Resumable": TUS_VERSION,
  });
  if (reply.status !== 204) throw errorOf(reply);
}

/** The upload id at the end of an upload's URL (its query left out). */
export function uploadIdOf(url) {
  return url.split(/[?#]/)[0].split("/").pop();
}

/** One request with XMLHttpRequest (it reports upload progress; fetch does not). */
function request(method, url, headers, body = null, onSent = null, onOpen = null) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, routed(url));
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    if (onSent) {
      xhr.upload.addEventListener("progress", (event) => onSent(event.loaded));
    }
    const settle = () => resolve(reply(xhr));
    xhr.addEventListener("load", settle);
    xhr.addEventListener("error", settle);
    xhr.addEventListener("abort", settle);
    xhr.addEventListener("timeout", settle);
    onOpen?.(xhr);
    xhr.send(body);
  });
}

function reply(xhr) {
  let data = null;
  try {
    data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
  } catch {
    data = null;
  }
  const error = data?.error || {};
  return {
    status: xhr.status,
    code: error.code || (xhr.status ? `http_${xhr.status}` : "network"),
    message: error.message || xhr.statusText || "the server could not be reached",
    details: error.details || {},
    header: (name) => xhr.getResponseHeader(name),
  };
}

/** The bytes ``start..end`` of ``file``; "unreadable" (文件异常) if the browser cannot
 * read it any more: moved, deleted or changed since it was picked. */
async function readable(file, start = 0, end = Math.min(1, file.size)) {
  try {
    return await file.slice(start, end).arrayBuffer();
  } catch (err) {
    throw new ApiError(0, "unreadable", `the file can no longer be read (${err.name})`);
  }
}

function errorOf(r) {
  return new ApiError(r.status, r.code, r.message, r.details);
}

/** ``Upload-Metadata``: ``key base64(UTF-8 value)`` pairs. */
export function encodeMetadata(values) {
  return Object.entries(values)
    .map(([key, value]) => `${key} ${base64(new TextEncoder().encode(String(value)))}`)
    .join(",");
}

async function sha1(buffer, wanted) {
  if (!wanted || !globalThis.crypto?.subtle) return null; // no secure context: no checksum
  try {
    return base64(new Uint8Array(await crypto.subtle.digest("SHA-1", buffer)));
  } catch {
    return null;
  }
}

function base64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function randomHex(n) {
  return Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** Wait ``ms`` before trying again, or less: until the browser reports being online. */
function backOff(ms) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      globalThis.removeEventListener?.("online", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    globalThis.addEventListener?.("online", done);
  });
}
