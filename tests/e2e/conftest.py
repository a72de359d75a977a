"""End-to-end fixtures: a real ``examcast serve`` process and one headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``) with a fake camera and microphone
that play a clip and a 440 Hz tone generated here with ffmpeg. Each page is in
a browser context of its own, logged in as a new candidate unless the test asks
for an anonymous one. Screenshots go to ``$EXAMCAST_ARTIFACTS/<test name>/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Error,
    Page,
    Playwright,
    Request,
    Response,
    async_playwright,
    expect,
)

from tests.e2e.accounts import signed_up
from tests.support.netns import Veth, launch_in_netns, veth_pair, veth_server
from tests.support.process import ServerProcess, start_server

CHROMIUM = Path("/usr/bin/chromium")
FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
TONE_HZ = 440

# How long an ``expect`` waits for what it checks (Playwright's own default is 5 s), as long as
# a page's actions may take (``new_page``): several xdist workers share the cores, and a page
# that is right only late on a busy machine is right. A wrong page still fails, later.
expect.set_options(timeout=15_000)


# /metrics of the shared server, for the tests that read what it counts
METRICS_TOKEN = "e2e-metrics-token-0123"


async def metric(page: Page, server: ServerProcess, name: str) -> float:
    """A gauge of the server's ``/metrics`` (unlabelled), asked with ``page``'s requests."""
    response = await page.request.get(
        server.url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert response.ok, response.status
    found = re.search(rf"^{name} (\S+)$", await response.text(), re.M)
    assert found, f"no {name} in /metrics"
    return float(found[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(
        tmp_path_factory.mktemp("examcast") / "data", "--metrics-token", METRICS_TOKEN
    )
    yield running
    running.stop()


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


def failed(request: pytest.FixtureRequest) -> bool:
    return request.node.stash.get(FAILED, False)


@pytest.fixture(autouse=True)
def server_log_on_failure(request: pytest.FixtureRequest, server: ServerProcess) -> Iterator[None]:
    """A failing test prints the server's log (shown with the failure)."""
    yield
    if failed(request):
        print(f"---- examcast serve log ({server.log_path}) ----\n{server.log()}")


DEVICE_CHECK_LIMIT_S = 3


@pytest.fixture
def short_limit_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """A server of its own that stops device-check takes after a few seconds."""
    running = start_server(tmp_path / "data", "--device-check-limit-s", str(DEVICE_CHECK_LIMIT_S))
    yield running
    running.stop()
    if failed(request):
        print(f"---- short-limit server log ({running.log_path}) ----\n{running.log()}")


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
        [
            *ffmpeg,
            "testsrc2=size=640x360:rate=30",
            "-t",
            "2",
            "-pix_fmt",
            "yuv420p",
            str(media.video),
        ],
        check=True,
        timeout=60,
    )
    subprocess.run(
        [*ffmpeg, f"sine=frequency={TONE_HZ}:sample_rate=48000", "-t", "2", str(media.audio)],
        check=True,
        timeout=60,
    )
    return media


def chromium_args(media: FakeMedia, cameras: int = 1) -> list[str]:
    """Chromium's flags for a fake microphone playing the tone and either one fake
    camera playing the clip or ``cameras`` generated ones (a file allows only one)."""
    if cameras == 1:
        camera = [
            "--use-fake-device-for-media-stream=fps=30",
            f"--use-file-for-fake-video-capture={media.video}",
        ]
    else:
        camera = [f"--use-fake-device-for-media-stream=fps=30,device-count={cameras}"]
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-domain-reliability",
        "--use-fake-ui-for-media-stream",
        "--allow-loopback-in-peer-connection",
        f"--use-file-for-fake-audio-capture={media.audio}",
        *camera,
    ]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as running:
        yield running


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(playwright: Playwright, fake_media: FakeMedia) -> AsyncIterator[Browser]:
    chromium = await playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=chromium_args(fake_media)
    )
    yield chromium
    await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def three_camera_browser(
    playwright: Playwright, fake_media: FakeMedia
) -> AsyncIterator[Browser]:
    """A second Chromium, only while one test runs, with Chromium's generated cameras.
    The second of them (fake_device_1) is a depth camera (Y16) that the encoder does
    not send; the first and third are ordinary ones."""
    chromium = await playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=chromium_args(fake_media, cameras=3)
    )
    yield chromium
    await chromium.close()


# -- pages and screenshots -----------------------------------------------------------------


@dataclass
class Shots:
    """Numbered screenshots of one test, in its own folder."""

    folder: Path
    taken: list[Path] = field(default_factory=list)

    async def take(self, page: Page, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        # From the top: a full-page shot of a scrolled page repeats the sticky top bar.
        await page.evaluate("() => window.scrollTo(0, 0)")
        await page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture
def shots(artifacts: Path) -> Iterator[Shots]:
    for old in artifacts.glob("*.png"):
        old.unlink()
    taken = Shots(artifacts)
    yield taken
    print(f"screenshots: {artifacts} ({len(taken.taken)} files)")


NewPage = Callable[..., Awaitable[Page]]


@pytest_asyncio.fixture(loop_scope="session")
async def new_page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[NewPage]:
    """Pages in fresh browser contexts (own cookies and storage), logged in to
    ``server`` as a new candidate unless ``anonymous``. Their console is printed if
    the test fails; an uncaught error, a CSP violation or a sentence missing one of its
    values (i18n.js warns) fails the test."""
    contexts: list[BrowserContext] = []
    console: list[str] = []
    problems: list[str] = []

    async def open_page(
        server: ServerProcess,
        on: Browser | None = None,
        anonymous: bool = False,
        **context_options: Any,
    ) -> Page:
        context = await (on or browser).new_context(**context_options)
        contexts.append(context)
        if not anonymous:
            await signed_up(context.request, server)
        page = await context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", on_console)
        page.on("pageerror", on_error)
        page.on("response", on_response)
        page.on("requestfailed", on_request_failed)
        return page

    def on_console(message: ConsoleMessage) -> None:
        console.append(f"console.{message.type}: {message.text}")
        if "Content Security Policy" in message.text:
            problems.append(message.text)
        if message.text.startswith("i18n:"):  # a sentence shown without one of its values
            problems.append(message.text)

    def on_error(error: Error) -> None:
        console.append(f"pageerror: {error}")
        problems.append(f"uncaught: {error}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            console.append(f"HTTP {response.status}: {response.url}")

    def on_request_failed(failed_request: Request) -> None:
        console.append(
            f"failed: {failed_request.method} {failed_request.url}: {failed_request.failure}"
        )

    yield open_page
    for context in contexts:
        await context.close()
    if failed(request):
        print("---- browser console ----", *console, sep="\n")
    assert not problems, problems


# -- a browser across a veth pair (tests/support/netns.py) ----------------------------------


@pytest.fixture
def veth() -> Iterator[Veth]:
    """The browser's network namespace and the link to it (skips where it can't be made)."""
    with veth_pair() as link:
        yield link


@pytest.fixture
def netns_server(tmp_path: Path, veth: Veth) -> Iterator[ServerProcess]:
    """A server of its own, listening on the veth's address."""
    server = veth_server(tmp_path / "data", veth)
    yield server
    server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def netns_browser(
    playwright: Playwright,
    fake_media: FakeMedia,
    veth: Veth,
    netns_server: ServerProcess,
    tmp_path: Path,
) -> AsyncIterator[Browser]:
    """Chromium in the browser's namespace, with the fake camera."""
    chromium = await launch_in_netns(
        playwright, veth, netns_server, chromium_args(fake_media), tmp_path
    )
    yield chromium
    await chromium.close()
