"""A person in Chromium on the Clone tab: a portrait, a voice sample and an idea -> a 20 s explainer that
plays in the page, with its script shown to edit and its parts to download; Stop ends a clone under way."""

from __future__ import annotations

import pytest

from tests.conftest import voice_clips
from tests.e2e import ARGS, CHROMIUM, stop_once_running

pytestmark = pytest.mark.e2e


def _open(p, app_server, samples):
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    page = browser.new_page(viewport={"width": 1500, "height": 1400})
    page.goto(app_server.url)
    page.get_by_role("tab", name="Clone", exact=True).click()
    page.set_input_files("#clone-portrait input[type=file]", str(samples / "portraits" / "art_0.png"))
    page.set_input_files("#clone-voice input[type=file]", str(voice_clips("vctk-p226")[2]))
    page.check("#clone-likeness input[type=checkbox]")
    return browser, page


def test_a_20_s_explainer_is_made_and_plays(app_server, samples):
    sync_api = pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect

    with sync_api.sync_playwright() as p:
        browser, page = _open(p, app_server, samples)
        page.fill("#clone-idea textarea", "why bees matter for our food")
        length = page.locator("#clone-length input[type=number]")
        length.fill("20")
        length.press("Enter")
        page.click("#clone-button")
        expect(page.locator("#clone-info")).to_contain_text("s video", timeout=300000)
        # The idea box now holds the script, to edit and make again.
        expect(page.locator("#clone-idea textarea")).to_have_value(
            __import__("re").compile(r"^# Why bees matter for our food[\s\S]*## [\s\S]*Notes:"))
        expect(page.locator("#clone-parts")).to_contain_text("narration")
        expect(page.locator("#clone-parts")).to_contain_text("head")
        duration = page.wait_for_function(
            "() => { const v = document.querySelector('#clone-video video'); "
            "return v && v.duration > 0 ? v.duration : null }", timeout=30000).json_value()
        assert 12.0 < duration < 26.0
        # The browser plays it: time moves on.
        page.evaluate("() => { const v = document.querySelector('#clone-video video'); v.muted = true; "
                      "return v.play() }")
        page.wait_for_function("() => document.querySelector('#clone-video video').currentTime > 1.0",
                               timeout=30000)
        browser.close()


def test_stop_ends_a_clone_under_way(app_server, client, samples):
    sync_api = pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect

    def clones() -> list[dict]:
        return [g for q in client.predict(api_name="/list_projects")
                for g in client.predict(project_id=q["id"], api_name="/list_generations")
                if g["kind"] == "clone_video" and g["id"] not in before]

    before: set[int] = set()
    before = {g["id"] for g in clones()}
    with sync_api.sync_playwright() as p:
        browser, page = _open(p, app_server, samples)
        page.fill("#clone-idea textarea", "how volcanoes form and why some of them erupt")
        page.click("#clone-button")
        made = stop_once_running(page, "#clone-stop", clones)
        assert made["status"] == "cancelled" and made["outputs"] == []
        expect(page.locator("#clone-button")).to_be_enabled()
        browser.close()
