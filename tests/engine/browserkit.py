"""Headless Chromium for the dashboard's browser tests: Debian's `chromium` and
`chromium-driver` (scripts/ensure-browser.sh installs them) driven through selenium. Nothing is
downloaded: the driver's path is given, so selenium's own driver manager never runs. The tests
fail, never skip, when the browser is missing."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

BROWSER_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1400,900")


def _find(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or next(
            (p for p in (f"/usr/bin/{name}", f"/usr/lib/chromium/{name}")
             if shutil.which(p)), None)
        if found:
            return found
    return ""


@contextmanager
def chromium() -> Iterator[Any]:
    """A fresh headless Chromium (its own profile dir), quit at the end."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: pip install -e '.[dev]' (scripts/setup.sh does)",
                    pytrace=False)
    binary, driver = _find("chromium", "chromium-browser"), _find("chromedriver")
    if not (binary and driver):
        pytest.fail("headless Chromium is missing (need chromium and chromedriver): run "
                    "scripts/ensure-browser.sh (as root; it installs Debian's chromium and "
                    "chromium-driver)", pytrace=False)
    profile = tempfile.mkdtemp(prefix="ace-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (*BROWSER_ARGS, f"--user-data-dir={profile}"):
        options.add_argument(arg)
    browser = webdriver.Chrome(options=options, service=Service(driver))
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def until(check: Callable[[], T | None], timeout: float, what: str,
          describe: Callable[[], str] = lambda: "") -> T:
    """Poll `check` (every 0.1 s) until it returns something truthy; fail naming `what`."""
    end = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            got = check()
            if got:
                return got
        except Exception as exc:  # the page is mid-update: look again
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                         + (f" (last error: {last})" if last else "") + f"\n{describe()}")
