"""Opening a page in a real browser: headless Chromium, as the report tests use it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

BINARIES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The first Chromium binary on PATH, else None."""
    return next((p for p in map(shutil.which, BINARIES) if p), None)


def chromium() -> str:
    """The Chromium binary; skips the test without one, except under CI, where it fails."""
    found = find_chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no chromium binary was found (.ci/run installs it)")
        pytest.skip("no chromium binary found (apt-get install -y chromium) to open the report")
    return found


def open_page(
    browser: str, page: Path, fragment: str, profile: Path, *extra: str
) -> subprocess.CompletedProcess:
    """Open ``page`` (a file) + ``fragment`` headless; stdout is the DOM with ``--dump-dom``.

    The page's console messages are on stderr (``--enable-logging=stderr``), one
    ``:CONSOLE`` line each; :func:`console` finds them.
    """
    url = page.resolve().as_uri() + fragment
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"]
        + ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def console(done: subprocess.CompletedProcess) -> list[str]:
    """The console messages (logs, errors, refused loads) of an :func:`open_page` run."""
    return re.findall(r":CONSOLE[^\n]*", done.stderr)


def root_tag(dom: str) -> str:
    """The ``<html ...>`` start tag of a dumped DOM (the page's script marks it)."""
    return re.search(r"<html[^>]*>", dom).group(0)
