"""A person in Chromium on the Talking Head tab: upload a portrait, see the face found, make a video."""

from __future__ import annotations

import pytest

from tests.e2e import ARGS, CHROMIUM

pytestmark = pytest.mark.e2e


def test_portrait_preview_and_video(app_server, samples):
    sync_api = pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(app_server.url)
        page.get_by_role("tab", name="Talking Head").click()
        page.set_input_files("#th-portrait input[type=file]", str(samples / "portraits" / "art_0.png"))
        expect(page.locator("#th-face-notes")).to_contain_text("One face found", timeout=60000)
        expect(page.locator("#th-face img")).to_be_visible()
        page.get_by_role("tab", name="Speech from text").click()
        page.fill("#th-text textarea", "Hello, this portrait can talk.")
        page.click("#th-button")  # refused until the likeness is attested
        refusal = page.locator("[data-testid=toast-text]")
        expect(refusal).to_contain_text("confirm that you may use this likeness", timeout=30000)
        page.check("#th-likeness input[type=checkbox]")
        page.click("#th-button")
        expect(page.locator("#th-info")).to_contain_text("frames", timeout=120000)
        duration = page.wait_for_function(
            "() => { const v = document.querySelector('#th-video video'); "
            "return v && v.duration > 0 ? v.duration : null }", timeout=30000).json_value()
        assert 1.0 < duration < 6.0
        browser.close()
