"""End-to-end fixtures: a real ``examcast serve`` process and one headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``) with a fake camera and microphone
that play a clip and a 440 Hz tone generated here with ffmpeg. Screenshots go
to ``$EXAMCAST_ARTIFACTS/<test name>/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

REPO = Path(__file__).resolve().parents[2]
EXAMCAST = REPO / ".venv" / "bin" / "examcast"
CHROMIUM = Path("/usr/bin/chromium")
FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
TONE_HZ = 440
SERVER_START_TIMEOUT_S = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    url: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def recording(self, take_id: str, index: int = 0) -> Path:
        return self.data_dir / "recordings" / take_id / f"segment-{index:03d}.webm"


def start_server(data_dir: Path, *extra: str) -> ServerProcess:
    """``examcast serve`` on a free loopback port, once ``/api/health`` answers."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    command = [
        str(EXAMCAST), "serve", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data_dir), "--ice-host-addresses", "127.0.0.1", *extra,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(f"http://127.0.0.1:{port}", data_dir, log_path, process)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"examcast serve exited with {process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(server.url + "/api/health", timeout=1) as response:
                if json.load(response).get("status") == "ok":
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            stop_server(server)
            raise TimeoutError(f"examcast serve not healthy in {SERVER_START_TIMEOUT_S}s:\n"
                               f"{server.log()}")
        time.sleep(0.1)


def stop_server(server: ServerProcess) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(tmp_path_factory.mktemp("examcast-data"))
    yield running
    stop_server(running)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[None]:
    report = yield
    item.stash.setdefault(FAILED, False)
    if report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def server_log_on_failure(
    request: pytest.FixtureRequest, server: ServerProcess
) -> Iterator[None]:
    """A failing test prints the server's log (shown with the failure)."""
    yield
    if request.node.stash.get(FAILED, False):
        print(f"---- examcast serve log ({server.log_path}) ----\n{server.log()}")


# -- media and browser ---------------------------------------------------------------------


@dataclass(frozen=True)
class FakeMedia:
    video: Path
    audio: Path


@pytest.fixture(scope="session")
def fake_media(tmp_path_factory: pytest.TempPathFactory) -> FakeMedia:
    folder = tmp_path_factory.mktemp("fake-media")
    media = FakeMedia(folder / "clip.y4m", folder / "tone.wav")
    ffmpeg = [FFMPEG, "-loglevel", "error", "-y", "-f", "lavfi", "-i"]
    subprocess.run(
        [*ffmpeg, "testsrc2=size=640x360:rate=30", "-t", "2", "-pix_fmt", "yuv420p",
         str(media.video)],
        check=True, timeout=60,
    )
    subprocess.run(
        [*ffmpeg, f"sine=frequency={TONE_HZ}:sample_rate=48000", "-t", "2", str(media.audio)],
        check=True, timeout=60,
    )
    return media


def chromium_args(media: FakeMedia) -> list[str]:
    return [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-domain-reliability",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream=fps=30",
        "--allow-loopback-in-peer-connection",
        f"--use-file-for-fake-video-capture={media.video}",
        f"--use-file-for-fake-audio-capture={media.audio}",
    ]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(fake_media: FakeMedia) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=chromium_args(fake_media)
        )
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def devices() -> AsyncIterator[dict[str, dict[str, object]]]:
    async with async_playwright() as playwright:
        yield dict(playwright.devices)


# -- pages and screenshots -----------------------------------------------------------------


@dataclass
class Shots:
    """Numbered screenshots of one test, in its own folder."""

    folder: Path
    taken: list[Path] = field(default_factory=list)

    async def take(self, page: Page, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Iterator[Shots]:
    root = Path(os.environ.get("EXAMCAST_ARTIFACTS") or REPO / "artifacts")
    folder = root / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    taken = Shots(folder)
    yield taken
    print(f"screenshots: {folder} ({len(taken.taken)} files)")


@dataclass
class PageLog:
    """What the page printed to its console and the errors it threw."""

    lines: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", lambda msg: self.lines.append(f"console.{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: self.lines.append(f"pageerror: {exc}"))


async def open_context(
    browser: Browser, request: pytest.FixtureRequest, **options: object
) -> tuple[BrowserContext, Page, PageLog]:
    context = await browser.new_context(**options)  # type: ignore[arg-type]
    page = await context.new_page()
    page.set_default_timeout(15_000)
    log = PageLog()
    log.attach(page)
    return context, page, log
