// The local copy's store in IndexedDB, where the origin-private file system is missing:
// `parts` (one MediaRecorder run of a take on one camera) and `chunks` (keyed by
// [part, index], each with its server times and its Blob). Each chunk is one committed
// transaction: a crashed page's chunks are all there but the one being written.

const DB = "examcast-local-copy";

export function indexedDbSupported() {
  return typeof indexedDB !== "undefined";
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function committed(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new DOMException("aborted", "AbortError"));
  });
}

function range(part) {
  return IDBKeyRange.bound([part, 0], [part, Number.MAX_SAFE_INTEGER]);
}

export class IndexedDbStore {
  /** ``db``: the database's name (another one: OPFS's rescue store, lib/local-copy/opfs.js). */
  constructor(db = DB) {
    this.name = "indexeddb";
    this.dbName = db;
    this.db = null;
  }

  async open() {
    const request = indexedDB.open(this.dbName, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("parts", { keyPath: "part" });
      db.createObjectStore("chunks", { keyPath: ["part", "index"] });
    };
    this.db = await done(request);
    return this;
  }

  async createPart(meta) {
    const tx = this.db.transaction("parts", "readwrite");
    tx.objectStore("parts").put(meta);
    await committed(tx);
  }

  async updatePart(part, patch) {
    const tx = this.db.transaction("parts", "readwrite");
    const store = tx.objectStore("parts");
    const meta = { ...(await done(store.get(part))), ...patch };
    store.put(meta);
    await committed(tx);
    return meta;
  }

  async writeChunk(part, chunk, blob) {
    const tx = this.db.transaction("chunks", "readwrite");
    tx.objectStore("chunks").put({ part, ...chunk, size: blob.size, blob });
    await committed(tx);
  }

  async parts() {
    const tx = this.db.transaction(["parts", "chunks"], "readonly");
    const [metas, rows] = await Promise.all([
      done(tx.objectStore("parts").getAll()), done(tx.objectStore("chunks").getAll()),
    ]);
    const byPart = new Map(metas.map((meta) => [meta.part, { ...meta, chunks: [] }]));
    for (const r of rows) {
      byPart.get(r.part)?.chunks.push({
        index: r.index, startMs: r.startMs, endMs: r.endMs, size: r.size,
      });
    }
    for (const p of byPart.values()) p.chunks.sort((a, b) => a.index - b.index);
    return [...byPart.values()];
  }

  /** Every chunk (without its Blob), of any part: [{part, index, startMs, endMs, size}]. */
  async allChunks() {
    const tx = this.db.transaction("chunks", "readonly");
    const rows = await done(tx.objectStore("chunks").getAll());
    return rows.map(({ part, index, startMs, endMs, size }) => ({
      part, index, startMs, endMs, size,
    }));
  }

  async chunkBlobs(part, chunks) {
    const tx = this.db.transaction("chunks", "readonly");
    const store = tx.objectStore("chunks");
    const rows = await Promise.all(chunks.map((c) => done(store.get([part, c.index]))));
    return rows.map((r) => r.blob);
  }

  async removePart(part) {
    const tx = this.db.transaction(["parts", "chunks"], "readwrite");
    tx.objectStore("chunks").delete(range(part));
    tx.objectStore("parts").delete(part);
    await committed(tx);
  }
}
