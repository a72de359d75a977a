"""The official tus JavaScript client (tus-js-client 4, in Node.js) uploads to our server,
stops half-way and resumes: the stored file's SHA-256 is the source's.

tus-js-client is installed from npm for this test only (``scripts/setup --test``
puts it in ``.venv/node-test``; failing that, this test tries ``npm install``
itself). Without Node.js or the package the test is skipped, saying why.
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
from tests.support.server import RunningServer
from tests.support.tus import about, candidate_at, files_of, q

ROOT = Path(__file__).parents[2]
PACKAGE = "tus-js-client@4.3.1"
INSTALLED = ROOT / ".venv" / "node-test"

SCRIPT = r"""
const tus = require(process.env.TUS_JS_CLIENT);
const fs = require("fs");
const [endpoint, file, cookie, metadata, chunkSize, stopAt, resumeUrl] = process.argv.slice(2);
const data = fs.readFileSync(file);
const upload = new tus.Upload(data, {
  endpoint,
  uploadUrl: resumeUrl || null,
  chunkSize: Number(chunkSize),
  metadata: JSON.parse(metadata),
  headers: { Cookie: cookie },
  uploadDataDuringCreation: !resumeUrl,
  retryDelays: [],
  onChunkComplete(size, accepted, total) {
    if (Number(stopAt) && accepted >= Number(stopAt) && accepted < total) {
      upload.abort().then(() => {
        console.log(JSON.stringify({ url: upload.url, stopped: accepted }));
        process.exit(0);
      });
    }
  },
  onError(error) {
    console.error("tus-js-client: " + error);
    process.exit(1);
  },
  onSuccess() {
    console.log(JSON.stringify({ url: upload.url, done: true }));
  },
});
upload.start();
"""


def _find_or_install(tmp: Path) -> Path:
    """The folder holding ``node_modules/tus-js-client``, or skip saying why not."""
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: the tus-js-client test needs it")
    for base in (Path(os.environ.get("EXAMCAST_TUS_JS_CLIENT", INSTALLED)), tmp):
        if (base / "node_modules" / "tus-js-client" / "package.json").exists():
            return base
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed and scripts/setup --test did not install tus-js-client")
    done = subprocess.run(
        ["npm", "install", "--prefix", str(tmp), "--no-audit", "--no-fund", PACKAGE],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if done.returncode != 0:
        pytest.skip(
            f"could not install {PACKAGE} from npm (no registry access here?); run "
            f"scripts/setup --test where npm can reach it. npm said: {done.stderr[-300:]}"
        )
    return tmp


@pytest.fixture(scope="session")
def tus_js_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = _find_or_install(tmp_path_factory.mktemp("npm"))
    return base / "node_modules" / "tus-js-client"


async def node(script: Path, module: Path, *args: str) -> dict[str, Any]:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["node", str(script), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TUS_JS_CLIENT": str(module)},
        )

    done = await asyncio.to_thread(run)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


async def test_tus_js_client_uploads_and_resumes(
    api_server: RunningServer, tus_js_client: Path, tmp_path: Path
) -> None:
    server = api_server
    video = await asyncio.to_thread(files.mp4, 30, 320, 240, True)
    source = tmp_path / "演奏.mp4"
    source.write_bytes(video)
    script = tmp_path / "upload.js"
    script.write_text(SCRIPT)
    async with api_client(server) as admin, api_client(server) as client:
        exam_id, _ = await candidate_at(server, admin, client)
        cookie = f"examcast_session={client.cookie()}"
        meta = json.dumps(about(exam_id, source.name, device_id="node-1", device_name="Node"))
        endpoint = server.url + "/api/uploads/"
        chunk = str(256 * 1024)
        first = await node(script, tus_js_client, endpoint, str(source), cookie, meta, chunk, "1")
        assert 0 < first["stopped"] < len(video), first  # stopped after its first chunk
        [pending] = await files_of(client, exam_id)
        assert pending["pending"] is True
        url = first["url"]
        assert url.startswith(endpoint)
        second = await node(
            script, tus_js_client, endpoint, str(source), cookie, meta, chunk, "0", url
        )
        assert second == {"url": url, "done": True}
        [stored] = await files_of(client, exam_id)
        assert stored["pending"] is False and stored["size"] == len(video)
        page = await client.call("GET", q(exam_id))
        attempt_id = page.body["question"]["attempt"]["attempt_id"]
    path = server.settings.uploads_dir / attempt_id / f"{stored['file_id']}.mp4"
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(video).digest()
