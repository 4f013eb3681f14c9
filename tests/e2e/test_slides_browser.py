"""A person in Chromium on the Slides tab: type an outline, see the thumbnails, make the deck, both
files are downloadable and the video plays."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e import ARGS, CHROMIUM

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice not installed")]

OUTLINE = "# Browser deck\n\n## First point\n- It works\n\n## Second point\n- It plays\n"


def test_outline_thumbnails_deck_and_video(app_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(app_server.url)
        page.get_by_role("tab", name="Slides").click()
        editor = page.locator("#slides-outline .cm-content")
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.press("Delete")
        page.keyboard.insert_text(OUTLINE)
        page.click("#slides-preview")
        expect(page.locator("#slides-gallery img")).to_have_count(3, timeout=60000)

        page.click("#slides-make")
        expect(page.locator("#slides-info")).to_contain_text("3 slides", timeout=180000)
        links = page.locator("#slides-files a")
        expect(links).to_have_count(2, timeout=10000)
        hrefs = [links.nth(i).get_attribute("href") for i in range(2)]
        assert any(h.endswith(".pptx") for h in hrefs) and any(h.endswith(".mp4") for h in hrefs), hrefs
        for href in hrefs:
            got = page.request.get(href)
            assert got.ok and len(got.body()) > 10_000, href
        page.evaluate("() => { const v = document.querySelector('#slides-video video'); v.muted = true; v.play(); }")
        page.wait_for_function("() => document.querySelector('#slides-video video').currentTime > 0.3",
                               timeout=30000)
        assert page.evaluate("() => document.querySelector('#slides-video video').videoWidth") == 1280
        browser.close()
