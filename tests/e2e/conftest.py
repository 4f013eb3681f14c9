"""The browser the e2e tests share: Debian's Chromium through Playwright, one per test module."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e import ARGS, CHROMIUM


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium"):
        pytest.skip("Debian chromium not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()
