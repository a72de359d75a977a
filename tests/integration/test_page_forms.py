"""Every form of every page posts (never a GET that puts a password in the URL), and a
form the browser sends by itself (before the page's script is ready, or with scripts off)
is answered with a redirect back to the page, its body neither read nor logged."""

from __future__ import annotations

import logging
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest

from tests.support.server import RunningServer
from web.routes import PAGES

STATIC = Path(__file__).parents[2] / "web" / "static"


class Forms(HTMLParser):
    """The forms of one page: their attributes and the submit buttons inside them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str | None]] = []
        self.submits: list[tuple[int, dict[str, str | None]]] = []
        self.inside: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.forms.append(found)
            self.inside = len(self.forms) - 1
        elif self.inside is not None and tag in ("button", "input"):
            default = "submit" if tag == "button" else "text"
            if (found.get("type") or default) == "submit":
                self.submits.append((self.inside, found))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = None


def page_forms() -> list[tuple[str, Forms]]:
    pages = []
    for name in sorted(set(PAGES.values())):
        parser = Forms()
        parser.feed((STATIC / name).read_text(encoding="utf-8"))
        pages.append((name, parser))
    return pages


def test_every_form_posts() -> None:
    """A form sent by the browser itself goes as POST (its fields in the body, answered by
    :func:`web.routes.page_form_sent`), never as GET with a password in the URL."""
    pages = page_forms()
    assert sum(len(p.forms) for _, p in pages) >= 4  # login, register, two verify forms
    for name, parsed in pages:
        for index, form in enumerate(parsed.forms):
            method = (form.get("method") or "get").lower()
            where = f"{name}: form {form.get('data-testid') or index}"
            assert method in ("post", "dialog"), f"{where} has method={method!r}"
            assert "action" not in form, f"{where} posts elsewhere than its own page"


def test_the_log_in_page_sends_nothing_before_its_script_is_ready() -> None:
    [(_, login)] = [(n, p) for n, p in page_forms() if n == "login.html"]
    shown = [i for i, form in enumerate(login.forms) if "hidden" not in form]
    assert shown, "the log-in form is shown from the start"
    for index in shown:
        for at, submit in login.submits:
            if at == index:
                assert "disabled" in submit, f"{submit} is enabled before the script"


def sample(path: str) -> str:
    return path.replace("{exam_id}", "e1").replace("{question_id}", "q1")


@pytest.mark.parametrize("path", ["/login?next=%2Fexams%2F3", *map(sample, PAGES)])
async def test_a_form_sent_without_the_script_comes_back_to_its_page(
    server: RunningServer, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Sekret-Passw0rd-in-body"
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession() as http:
        sent = await http.post(
            server.url + path,
            data={"phone": "13800138000", "password": secret},
            headers={"Origin": server.url, "Sec-Fetch-Site": "same-origin"},
            allow_redirects=False,
        )
        assert sent.status == 303, await sent.text()
        location = sent.headers["Location"]
        assert secret not in location and "password" not in location
        back = await http.get(server.url + location, allow_redirects=False)
        assert back.status == 200 and back.content_type == "text/html", back.status
    assert location.startswith(path.split("?")[0] + "?")
    assert "resend=1" in location
    if "next" in path:
        assert "next=%2Fexams%2F3" in location or "next=/exams/3" in location
    assert secret not in caplog.text


async def test_a_form_from_another_site_is_still_refused(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        sent = await http.post(
            server.url + "/login",
            data={"phone": "13800138000", "password": "x"},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
            allow_redirects=False,
        )
        assert sent.status == 403


@pytest.mark.parametrize(
    ("short", "page"),
    [("/proctor", "/console/proctor"), ("/proctor/exams/e%201", "/console/proctor/exams/e%201")],
)
async def test_the_proctors_short_addresses_lead_to_their_pages(
    server: RunningServer, short: str, page: str
) -> None:
    async with aiohttp.ClientSession() as http:
        sent = await http.get(server.url + short, allow_redirects=False)
        assert sent.status == 302 and sent.headers["Location"] == page
        landed = await http.get(server.url + short)
        assert landed.status == 200 and landed.content_type == "text/html"
