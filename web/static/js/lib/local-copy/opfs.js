// The local copy's store in the origin-private file system (OPFS): a folder per part
// (one MediaRecorder run of a take on one camera), holding meta.json and one file per
// chunk named by its index and server times, so a crashed page's chunks are found by
// listing the folder. Each file is written whole and closed (createWritable swaps it in
// on close): a chunk is either there complete or not at all.
//
// The chunk asked for as the page goes away (a reload, a closed tab: lib/local-copy.js
// flushes the recorder then) goes to a small IndexedDB store instead ("rescue"): an OPFS
// write takes several round trips and about half of them did not finish before the page
// died, while an IndexedDB transaction sent by then is committed (measured in Chromium).
// parts() and chunkBlobs() join both.

import { IndexedDbStore, indexedDbSupported } from "./indexeddb.js";

const ROOT = "examcast-local-copy";
const CHUNK = /^(\d{6})_(\d+)_(\d+)\.chunk$/;
const RESCUE_DB = "examcast-local-copy-rescue";

export async function opfsSupported() {
  if (!globalThis.navigator?.storage?.getDirectory) return false;
  if (typeof FileSystemFileHandle === "undefined"
    || !("createWritable" in FileSystemFileHandle.prototype)) return false;
  try {
    await navigator.storage.getDirectory();
    return true;
  } catch {
    return false; // e.g. a private window that has no origin-private storage
  }
}

async function writeFile(dir, name, data) {
  const handle = await dir.getFileHandle(name, { create: true });
  const writable = await handle.createWritable();
  try {
    await writable.write(data);
    await writable.close();
  } catch (err) {
    await writable.abort().catch(() => {});
    throw err;
  }
}

async function readJson(dir, name) {
  const handle = await dir.getFileHandle(name);
  return JSON.parse(await (await handle.getFile()).text());
}

export class OpfsStore {
  constructor() {
    this.name = "opfs";
    this.root = null;
    this.rescue = null; // IndexedDbStore of the chunks written as the page went away
  }

  async open() {
    const top = await navigator.storage.getDirectory();
    this.root = await top.getDirectoryHandle(ROOT, { create: true });
    if (indexedDbSupported()) {
      try {
        this.rescue = await new IndexedDbStore(RESCUE_DB).open();
      } catch (err) {
        console.warn("local copy: no rescue store", err); // the last chunk may be lost
      }
    }
    return this;
  }

  async folder(part, create = false) {
    return this.root.getDirectoryHandle(part, { create });
  }

  async createPart(meta) {
    await writeFile(await this.folder(meta.part, true), "meta.json", JSON.stringify(meta));
  }

  async updatePart(part, patch) {
    const dir = await this.folder(part);
    const meta = { ...(await readJson(dir, "meta.json")), ...patch };
    await writeFile(dir, "meta.json", JSON.stringify(meta));
    return meta;
  }

  /** ``urgent``: the page is going away (see the top): into the rescue store. */
  async writeChunk(part, chunk, blob, urgent = false) {
    if (urgent && this.rescue) {
      await this.rescue.writeChunk(part, chunk, blob);
      return;
    }
    const name = `${String(chunk.index).padStart(6, "0")}_${chunk.startMs}_${chunk.endMs}.chunk`;
    await writeFile(await this.folder(part), name, blob);
  }

  /** Every part with its chunks ({index, startMs, endMs, size}, in order). */
  async parts() {
    const found = [];
    for await (const [name, handle] of this.root.entries()) {
      if (handle.kind !== "directory") continue;
      let meta;
      try {
        meta = await readJson(handle, "meta.json");
      } catch {
        continue; // created, meta not written yet (or broken): not a copy we can use
      }
      let chunks;
      try {
        chunks = await this.chunksIn(handle);
      } catch (err) {
        if (err?.name === "NotFoundError") continue; // removed meanwhile (another tab)
        throw err;
      }
      found.push({ ...meta, part: name, chunks });
    }
    const rescued = this.rescue ? await this.rescue.allChunks() : [];
    for (const p of found) {
      const have = new Set(p.chunks.map((c) => c.index));
      const more = rescued.filter((c) => c.part === p.part && !have.has(c.index));
      if (!more.length) continue;
      p.chunks.push(...more.map((c) => ({ ...c, rescued: true })));
      p.chunks.sort((a, b) => a.index - b.index);
    }
    return found;
  }

  async chunksIn(dir) {
    const chunks = [];
    for await (const [file, entry] of dir.entries()) {
      const m = CHUNK.exec(file);
      if (!m || entry.kind !== "file") continue;
      const size = (await entry.getFile()).size;
      // Empty: being written now, or its page died while writing it (getFileHandle
      // creates the file at once; the data comes in whole when its writable closes).
      if (!size) continue;
      chunks.push({ index: Number(m[1]), startMs: Number(m[2]), endMs: Number(m[3]), size, file });
    }
    return chunks.sort((a, b) => a.index - b.index);
  }

  async chunkBlobs(part, chunks) {
    const dir = await this.folder(part);
    const rescued = chunks.filter((c) => c.rescued);
    const fromRescue = rescued.length ? await this.rescue.chunkBlobs(part, rescued) : [];
    const blobs = [];
    for (const c of chunks) {
      blobs.push(c.rescued ? fromRescue[rescued.indexOf(c)]
        : await (await dir.getFileHandle(c.file)).getFile());
    }
    return blobs;
  }

  async removePart(part) {
    try {
      await this.root.removeEntry(part, { recursive: true });
    } catch (err) {
      if (err?.name !== "NotFoundError") throw err;
    }
    await this.rescue?.removePart(part);
  }
}
