"""Our own browser client, ``web/static/js/lib/tus.js``, run in Node.js against a real server:
it uploads in checksummed chunks, pauses, finds its upload again after a "reload" (a new
TusUpload for the same file), finishes, and reports a renamed or unreadable file.

Node has no XMLHttpRequest or localStorage, so the harness gives it small stand-ins
(fetch underneath); the page's own browser test (Chromium) comes with the page.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import files
from tests.support.api import api_client
from tests.support.exams import offline_question
from tests.support.server import RunningServer
from tests.support.tus import candidate_at, files_of, q

STATIC = Path(__file__).parents[2] / "web" / "static" / "js" / "lib"

HARNESS = r"""
const [serverUrl, cookie] = process.argv.slice(2);
globalThis.location = new URL(serverUrl + "/exam");
Object.defineProperty(globalThis, "navigator", {
  value: { userAgent: "Mozilla/5.0 (Linux; Android 6.0; MI 5 Build/MRA58K) Chrome/120.0" },
  configurable: true,
  writable: true,
});
const store = new Map();
globalThis.localStorage = {
  get length() { return store.size; },
  key: (i) => [...store.keys()][i] ?? null,
  getItem: (k) => (store.has(k) ? store.get(k) : null),
  setItem: (k, v) => store.set(k, String(v)),
  removeItem: (k) => store.delete(k),
};
globalThis.XMLHttpRequest = class {
  constructor() {
    this.upload = new EventTarget();
    this.events = new EventTarget();
    this.headers = {};
    this.status = 0;
    this.statusText = "";
    this.responseText = "";
  }
  open(method, url) { this.method = method; this.url = new URL(url, location.href).href; }
  setRequestHeader(name, value) { this.headers[name] = value; }
  addEventListener(type, fn) { this.events.addEventListener(type, fn); }
  getResponseHeader(name) { return this.response ? this.response.headers.get(name) : null; }
  abort() { this.controller?.abort(); }
  send(body) {
    this.controller = new AbortController();
    // Hooks for scenarios: a log of requests, a network that drops PATCHes, a link speed.
    const log = globalThis.requestLog;
    if (this.method === "PATCH" && globalThis.dropPatches > 0) {
      globalThis.dropPatches -= 1;
      log?.push({ request: "PATCH", dropped: true });
      queueMicrotask(() => this.events.dispatchEvent(new Event("error")));
      return;
    }
    if (this.method === "PATCH") globalThis.onPatch?.(body.byteLength);
    fetch(this.url, {
      method: this.method,
      headers: { ...this.headers, Cookie: cookie },
      body: body ?? undefined,
      signal: this.controller.signal,
    }).then(async (response) => {
      this.response = response;
      this.status = response.status;
      this.statusText = response.statusText;
      this.responseText = await response.text();
      log?.push({ request: this.method, size: body ? body.byteLength : 0,
        offset: response.headers.get("Upload-Offset") });
      if (body) {
        const event = new Event("progress");
        event.loaded = body.byteLength;
        this.upload.dispatchEvent(event);
      }
      this.events.dispatchEvent(new Event("load"));
    }).catch((error) => {
      this.status = 0;
      this.events.dispatchEvent(new Event(error.name === "AbortError" ? "abort" : "error"));
    });
  }
};
"""

SCENARIO = r"""
import "./harness.js";
import fs from "node:fs";
import { TusUpload, storedUploads, deviceName } from "./tus.js";

const [, , , , examId, candidateId, videoPath, renamedPath] = process.argv;
const options = { candidateId, examId, questionId: "q9", chunkSize: 256 * 1024 };
const report = { deviceName: deviceName(), states: [] };
const video = new File([fs.readFileSync(videoPath)], "演奏.mp4", {
  type: "video/mp4", lastModified: 1700000000000,
});

const first = new TusUpload(video, options);
first.addEventListener("statechange", (e) => report.states.push(e.detail.state));
first.addEventListener("progress", (e) => {
  if (e.detail.offset >= 512 * 1024 && first.state === "uploading") first.pause();
});
await first.start();
report.pausedAt = first.offset;
report.stored = storedUploads({ candidateId, examId }).map((r) => r.url);

const again = new TusUpload(video, options);  // after a reload: found by its fingerprint
report.sameUrl = again.url === first.url;
await again.start();
report.finalState = again.state;
report.offset = again.offset;
report.uploadId = again.uploadId;
report.storedAfter = storedUploads({ candidateId }).length;

const renamed = new File([fs.readFileSync(renamedPath)], "renamed.mp4", { lastModified: 1 });
try {
  await new TusUpload(renamed, options).start();
} catch (err) {
  report.renamed = err.code;
}

class Vanished extends File {
  slice() {
    return { arrayBuffer: () => Promise.reject(new DOMException("gone", "NotReadableError")) };
  }
}
try {
  await new TusUpload(new Vanished([new Uint8Array(5000)], "lost.mp4"), options).start();
} catch (err) {
  report.vanished = err.code;
}
console.log(JSON.stringify(report));
"""


async def test_the_page_client_uploads_pauses_resumes_and_reports_problems(
    api_server: RunningServer, tmp_path: Path
) -> None:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed")
    for name in ("tus.js", "api.js"):
        shutil.copy(STATIC / name, tmp_path / name)
    (tmp_path / "package.json").write_text('{"type": "module"}')
    (tmp_path / "harness.js").write_text(HARNESS)
    (tmp_path / "scenario.js").write_text(SCENARIO)
    video = await asyncio.to_thread(files.mp4, 30, 320, 240, True)
    (tmp_path / "video.mp4").write_bytes(video)
    (tmp_path / "renamed.mp4").write_bytes(files.wav() * 20)
    server = api_server
    async with api_client(server) as admin, api_client(server) as client:
        rule: dict[str, Any] = {"max_bytes": 4 * 1024 * 1024, "max_count": 3}
        exam_id, who = await candidate_at(server, admin, client, offline_question(**rule))
        report = await node(
            tmp_path,
            server.url,
            f"examcast_session={client.cookie()}",
            exam_id,
            who.id,
            str(tmp_path / "video.mp4"),
            str(tmp_path / "renamed.mp4"),
        )
        [stored] = await files_of(client, exam_id)
        page = await client.call("GET", q(exam_id))
    assert report["deviceName"] == "Xiaomi MI 5"
    assert report["states"][:2] == ["uploading", "paused"]
    assert 512 * 1024 <= report["pausedAt"] < len(video)
    assert len(report["stored"]) == 1 and report["sameUrl"] is True
    assert (report["finalState"], report["offset"], report["storedAfter"]) == (
        "done",
        len(video),
        0,
    )
    assert report["renamed"] == "unsupported_media_type"
    assert report["vanished"] == "unreadable"
    assert stored["file_id"] == report["uploadId"] and stored["pending"] is False
    attempt_id = page.body["question"]["attempt"]["attempt_id"]
    path = server.settings.uploads_dir / attempt_id / f"{stored['file_id']}.mp4"
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(video).digest()


# A slow phone link, a fast one, and a drop: PATCH sizes follow the link (the clock is
# the scenario's, moved by the bytes each PATCH carries), progress is only ever what the
# server acknowledged, and "retrying" ends as soon as the server answers again.
LINKS = r"""
import "./harness.js";
import fs from "node:fs";
import { CHUNK_MIN, CHUNK_START, TusUpload } from "./tus.js";

const [, , , , examId, candidateId, videoPath] = process.argv;
const bytes = fs.readFileSync(videoPath);
let clock = 0;
let rate = 0;
globalThis.onPatch = (n) => { clock += n / rate; };
const report = {};

async function send(name, bytesPerSecond, questionId, drop = 0) {
  rate = bytesPerSecond;
  globalThis.requestLog = [];
  globalThis.dropPatches = 0;
  const file = new File([bytes], `${name}.mp4`, { type: "video/mp4", lastModified: 1 });
  const up = new TusUpload(file, {
    candidateId, examId, questionId, now: () => clock, retryDelays: [5, 5, 5],
  });
  const events = [];
  up.addEventListener("statechange", (e) => events.push(`state:${e.detail.state}`));
  up.addEventListener("progress", (e) => {
    events.push(`progress:${e.detail.offset}`);
    // The network drops once, after the first acknowledged PATCH.
    if (drop && e.detail.offset > 0) { globalThis.dropPatches = drop; drop = 0; }
  });
  await up.start();
  const log = globalThis.requestLog;
  report[name] = {
    state: up.state,
    patches: log.filter((r) => r.request === "PATCH" && !r.dropped).map((r) => r.size),
    acked: log.filter((r) => r.offset != null).map((r) => Number(r.offset)),
    events,
    log: log.map((r) => r.dropped ? "dropped" : r.request),
  };
}

await send("slow", 16 * 1024, "q1");     // 16 KiB/s: a poor phone link
await send("fast", 64 * 1024 * 1024, "q2"); // a LAN
await send("drop", 64 * 1024 * 1024, "q3", 1);
report.min = CHUNK_MIN;
report.start = CHUNK_START;
console.log(JSON.stringify(report));
"""


async def test_chunks_follow_the_link_and_progress_is_what_the_server_holds(
    api_server: RunningServer, tmp_path: Path
) -> None:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed")
    for name in ("tus.js", "api.js"):
        shutil.copy(STATIC / name, tmp_path / name)
    (tmp_path / "package.json").write_text('{"type": "module"}')
    (tmp_path / "harness.js").write_text(HARNESS)
    (tmp_path / "scenario.js").write_text(LINKS)
    video = await asyncio.to_thread(files.mp4, 30, 320, 240, True)
    assert len(video) > 1024 * 1024, len(video)  # several PATCHes of every size
    (tmp_path / "video.mp4").write_bytes(video)
    server = api_server
    async with api_client(server) as admin, api_client(server) as client:
        rule = {"max_bytes": 4 * 1024 * 1024, "max_count": 3}
        questions = [offline_question(f"q{n}", n, **rule) for n in (1, 2, 3)]
        exam_id, who = await candidate_at(server, admin, client, *questions)
        report = await node(
            tmp_path,
            server.url,
            f"examcast_session={client.cookie()}",
            exam_id,
            who.id,
            str(tmp_path / "video.mp4"),
        )
    minimum, start = report["min"], report["start"]
    for name in ("slow", "fast", "drop"):
        run = report[name]
        assert run["state"] == "done", run
        assert sum(run["patches"]) == len(video), run["patches"]
        # Progress never runs ahead of the server: every offset shown was acknowledged.
        shown = [int(e.split(":")[1]) for e in run["events"] if e.startswith("progress:")]
        assert set(shown) <= {0, *run["acked"]}, (shown, run["acked"])
    slow, fast = report["slow"]["patches"], report["fast"]["patches"]
    assert slow[0] == start and set(slow[1:-1]) == {minimum}, slow  # 48 KiB in 3 s: the least
    assert fast[1] == 2 * fast[0] and max(fast) > start, fast  # it grows on a fast link
    # The drop: a PATCH lost; "retrying" ends as soon as the server answers (its HEAD),
    # not after the next PATCH, and the next PATCH is smaller than the one lost.
    drop = report["drop"]
    log, events = drop["log"], drop["events"]
    assert log.count("dropped") == 1 and log[log.index("dropped") + 1] == "HEAD", log
    retry = events.index("state:retrying")
    back = events.index("state:uploading", retry)
    assert events[retry + 1 : back] == [f"progress:{drop['acked'][1]}"], events  # the HEAD's
    assert "state:retrying" not in events[back:], events
    assert drop["patches"][1] < 2 * drop["patches"][0], drop["patches"]


async def node(folder: Path, *args: str) -> dict[str, Any]:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["node", "scenario.js", *args],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ.copy(),
        )

    done = await asyncio.to_thread(run)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
