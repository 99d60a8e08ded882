"""Make docs/live-top.svg and docs/live-top.png: `mpmon top` over a small running program.

    .venv/bin/python scripts/live_screenshot.py     # about 15 s; PNG needs chromium on PATH

Runs scripts/live_demo.py into a temporary log directory, renders the view after 10 s with rich's SVG
export (the very renderable `mpmon top` draws), and has headless chromium turn the SVG into a PNG.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from mpmon.live.read import read_view
from mpmon.live.view import render

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp) / "logs"
        program = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "live_demo.py"), str(log_dir), "14"]
        )
        try:
            time.sleep(10)
            view = read_view(log_dir)
            assert view is not None, "no snapshot after 10 s"
            console = Console(record=True, width=120, file=open("/dev/null", "w"))  # noqa: SIM115
            console.print(render(view, "logs"))
            svg = ROOT / "docs" / "live-top.svg"
            console.save_svg(str(svg), title="mpmon top logs")
        finally:
            program.wait(timeout=60)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        html = Path(tmp + ".html")
        html.write_text(f"<html><body style='margin:0;background:#fff'>{svg.read_text()}</body></html>")
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--screenshot={ROOT / 'docs' / 'live-top.png'}", "--window-size=1500,915", html.as_uri()],
            check=True, capture_output=True,
        )  # fmt: skip
        html.unlink()


if __name__ == "__main__":
    main()
