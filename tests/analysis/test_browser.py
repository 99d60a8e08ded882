"""report.html in a real browser: headless Chromium opens the demo's report from disk (no network) and,
through the DevTools protocol on a pipe (stdlib only), says whether every image loaded, whether anything
was logged as an error, and which sections and anchors the page has."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from mpmon.analysis import read_log_dir, select_run, write_report
from mpmon.analysis.figures import FIGURES
from mpmon.analysis.page import SECTIONS

from . import logfactory as lf

pytestmark = pytest.mark.slow

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and os.path.exists(p)), ""
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)
PAGE_FACTS = """(() => ({
  images: [...document.images].map(i => ({alt: i.alt, loaded: i.complete && i.naturalWidth > 0})),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  links: [...document.querySelectorAll('a[href^="#"]')].map(a => a.getAttribute('href').slice(1)),
  headings: [...document.querySelectorAll('section > h2, figure > h2')].map(h => h.textContent),
  details: document.querySelectorAll('#errors details pre').length,
  pageWidth: document.documentElement.scrollWidth,
  widest: Math.max(...[...document.querySelectorAll('table, pre, figure, img')].map(
    e => e.getBoundingClientRect().right)),
  viewWidth: window.innerWidth,
}))()"""


class DevTools:
    """A headless Chromium driven over ``--remote-debugging-pipe``: commands are JSON texts ended by NUL,
    written to the browser's fd 3; replies and events come back on its fd 4."""

    def __init__(self, profile: Path) -> None:
        to_browser, self._commands = _high(os.pipe())
        self._replies, from_browser = _high(os.pipe())
        shell = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser} {to_browser}<&- {from_browser}>&-'
        self.process = subprocess.Popen(
            ["bash", "-c", shell, CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe"],
            pass_fds=(to_browser, from_browser),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self.events: list[dict[str, Any]] = []
        self._pending = b""
        self._next_id = 0

    def call(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive(60)
            if reply.get("id") == self._next_id:
                assert "error" not in reply, reply
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        """The first event named ``method`` (already received or still to come)."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((e for e in self.events if e.get("method") == method), None)
            if found is not None:
                return found
            self.events.append(self._receive(max(deadline - time.monotonic(), 0.01)))

    def _receive(self, timeout: float) -> dict[str, Any]:
        """The next message from the browser."""
        deadline = time.monotonic() + timeout
        while b"\0" not in self._pending:
            ready, _, _ = select.select([self._replies], [], [], max(deadline - time.monotonic(), 0))
            assert ready, "Chromium did not answer in time"
            chunk = os.read(self._replies, 1 << 20)
            assert chunk, "Chromium closed the DevTools pipe"
            self._pending += chunk
        text, self._pending = self._pending.split(b"\0", 1)
        message: dict[str, Any] = json.loads(text)
        return message

    def close(self) -> None:
        """Ask the browser to quit, then make sure it has."""
        with contextlib.suppress(AssertionError, OSError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._replies)


def _high(fds: tuple[int, int]) -> tuple[int, int]:
    """The pipe's ends moved to descriptors >= 10, so that the shell's ``3<&N 4>&M`` never collides."""
    moved = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds)
    for fd in fds:
        os.close(fd)
    return moved[0], moved[1]


def open_in_browser(page: Path, profile: Path) -> dict[str, Any]:
    """Open ``page`` in headless Chromium: the page's facts and the errors it logged."""
    if not CHROMIUM:
        pytest.skip("chromium is not installed (Debian package 'chromium'; .ci/run installs it)")
    browser = DevTools(profile)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Page.navigate", {"url": page.as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        facts = browser.call(
            "Runtime.evaluate", {"expression": PAGE_FACTS, "returnByValue": True}, session=session
        )["result"]["value"]
    finally:
        browser.close()
    return {"facts": facts, "errors": [_error_text(e) for e in browser.events if _is_error(e)]}


@pytest.fixture(scope="module")
def page_in_browser(demo_report: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo's report.html opened in headless Chromium."""
    return open_in_browser(demo_report / "report.html", tmp_path_factory.mktemp("chromium-profile"))


def _is_error(event: dict[str, Any]) -> bool:
    """An uncaught exception, a console.error, or a browser log entry of level error."""
    method, params = event.get("method"), event.get("params", {})
    return (
        method == "Runtime.exceptionThrown"
        or (method == "Runtime.consoleAPICalled" and params.get("type") == "error")
        or (method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error")
    )


def _error_text(event: dict[str, Any]) -> str:
    return json.dumps(event.get("params", {}))[:500]


def test_every_image_is_loaded(page_in_browser: dict[str, Any]) -> None:
    """Every figure is an image that decoded (naturalWidth > 0) from its embedded data."""
    images = page_in_browser["facts"]["images"]
    assert len(images) == len(FIGURES)
    assert all(i["loaded"] for i in images), images


def test_no_console_errors(page_in_browser: dict[str, Any]) -> None:
    """Opening the page logs no error: no failed load, no script error, nothing blocked."""
    assert page_in_browser["errors"] == []


def test_sections_and_anchors(page_in_browser: dict[str, Any]) -> None:
    """Every figure and section has its heading and anchor; every in-page link lands on one."""
    facts = page_in_browser["facts"]
    ids, links = set(facts["ids"]), set(facts["links"])
    assert {*FIGURES, *SECTIONS} <= ids and {*FIGURES, *SECTIONS} <= links
    assert links <= ids
    assert set(SECTIONS.values()) <= set(facts["headings"])
    assert facts["details"] >= 1  # the traceback of the demo's errors, folded


def test_the_page_fits_its_width(page_in_browser: dict[str, Any]) -> None:
    """At 1280 pixels nothing needs scrolling sideways: the tables fit the page."""
    facts = page_in_browser["facts"]
    assert facts["pageWidth"] <= facts["viewWidth"] and facts["widest"] <= facts["viewWidth"]


def test_long_names_and_arguments_fit_the_width(tmp_path: Path) -> None:
    """Function and process names of 80 characters and arguments of 700 wrap inside the page."""
    frame = lf.bulk_rows(2_000, functions=12)
    frame["function"] = "a_long_module_path.SomeClass.with_a_method_whose_name_goes_on_" + frame["function"]
    frame["process_name"] = "SpawnPoolWorker-with-a-rather-long-name-" + frame["pid"].astype(str)
    frame["args"] = json.dumps({"args": ["x" * 300, "[" + "1, " * 80 + "]"], "kwargs": {"key": "y" * 200}})
    rows = [
        {**r, "start_time": lf.iso(r["start_time"]), "end_time": lf.iso(r["end_time"])}
        for r in frame.to_dict("records")
    ]
    lf.write_csv(tmp_path / "logs", rows)
    written = write_report(select_run(read_log_dir(tmp_path / "logs")), tmp_path / "report")
    seen = open_in_browser(written.folder / "report.html", tmp_path / "profile")
    assert seen["errors"] == [] and all(i["loaded"] for i in seen["facts"]["images"])
    assert seen["facts"]["pageWidth"] <= seen["facts"]["viewWidth"]
    assert seen["facts"]["widest"] <= seen["facts"]["viewWidth"]
