"""Headless Debian Chromium for the dashboard tests (Selenium + the system chromedriver, no downloads)."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1100", "--hide-scrollbars")


def find(names, env):
    for path in [os.environ.get(env)] + list(names):
        if path and (os.path.isabs(path) and os.access(path, os.X_OK) or shutil.which(path or "")):
            return path if os.path.isabs(path) else shutil.which(path)
    return None


def require_browser():
    """(chromium, chromedriver) paths; a skip outside CI, a failure in CI (CI=true) when missing."""
    chromium = find(("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"), "TGLL_CHROMIUM")
    driver = find(("/usr/bin/chromedriver", "chromedriver"), "TGLL_CHROMEDRIVER")
    try:
        import selenium  # noqa: F401
        have_selenium = True
    except ImportError:
        have_selenium = False
    missing = [n for n, ok in (("chromium", chromium), ("chromedriver", driver), ("selenium", have_selenium)) if not ok]
    if missing:
        msg = f"dashboard browser tests need {', '.join(missing)} (Debian: apt-get install chromium chromium-driver; pip install -e .[dev])"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    return chromium, driver


class Browser:
    """A Chrome session with a fresh profile and a download directory."""

    def __init__(self, download_dir: str | None = None):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        chromium, driver = require_browser()
        self.profile = tempfile.mkdtemp(prefix="tgll-chromium-")
        self.download_dir = download_dir or tempfile.mkdtemp(prefix="tgll-downloads-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium
        for f in CHROMIUM_FLAGS:
            opts.add_argument(f)
        opts.add_argument(f"--user-data-dir={self.profile}")
        opts.add_experimental_option("prefs", {"download.default_directory": self.download_dir,
                                               "download.prompt_for_download": False})
        self.driver = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
        self.driver.set_page_load_timeout(30)
        try:
            self.driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                                        {"behavior": "allow", "downloadPath": self.download_dir})
        except Exception:
            pass

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def wait(self, script: str, timeout: float = 60.0, what: str = ""):
        """Poll a JS expression until it is truthy; returns its value."""
        import time
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.js("return (" + script + ");")
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what or script}; last value {value!r}")

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
