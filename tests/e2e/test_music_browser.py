"""A person in Chromium on the Music & Lyrics tab: write lyrics, compose a short song, hear it,
download its parts and re-mix it on the console."""

from __future__ import annotations

import pytest

from tests.e2e import ARGS, CHROMIUM, stop_once_running

pytestmark = pytest.mark.e2e


def test_lyrics_song_downloads_and_remix(app_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(app_server.url)
        page.get_by_role("tab", name="Music & Lyrics").click()
        page.fill("#music-theme textarea", "a lighthouse keeper in a storm")
        page.click("#write-lyrics")
        expect(page.locator("#music-lyrics textarea")).to_have_value(
            __import__("re").compile(r"\[Chorus\]"), timeout=60000)
        page.fill("#music-lyrics textarea", "[Verse]\nThe light is burning on the shore\n"
                                            "[Chorus]\nHold on, hold on, the storm will pass")
        page.locator("#music-theme textarea").click()
        slider = page.get_by_label("Length (s)", exact=False).first
        slider.fill("15")
        page.click("#compose-button")
        expect(page.locator("#song-info")).to_contain_text("LUFS", timeout=180000)
        expect(page.locator("#song-lrc textarea")).to_have_value(__import__("re").compile(r"\[00:\d\d\.\d\d\]"))
        links = page.locator("#song-files a")
        expect(links).to_have_count(7, timeout=10000)
        hrefs = [links.nth(i).get_attribute("href") for i in range(7)]
        for ext in (".mp3", ".wav", ".zip", ".mid", ".lrc", ".mid.c2pa", ".lrc.c2pa"):
            assert any(h.endswith(ext) for h in hrefs), (ext, hrefs)
        assert page.request.get(next(h for h in hrefs if h.endswith(".mp3"))).ok
        page.get_by_text("Mixing console").click()
        expect(page.locator("#mixer-table")).to_contain_text("vocals", timeout=10000)
        page.click("#remix-button")
        expect(page.locator("#song-info")).to_contain_text("Re-mixed", timeout=120000)
        browser.close()


def test_stop_ends_a_long_song(app_server, client):
    """Compose a 10-minute song, press Stop once it is under way: the browser stops waiting, and the
    song is recorded "cancelled" with nothing kept."""

    sync_api = pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(app_server.url)
        page.get_by_role("tab", name="Music & Lyrics").click()
        page.fill("#music-theme textarea", "a voyage that never ends")
        page.get_by_label("Length (s)", exact=False).first.fill("600")
        page.locator("#music-theme textarea").click()
        page.click("#compose-button")

        def songs() -> list[dict]:
            unsorted = [q for q in client.predict(api_name="/list_projects") if q["name"] == "Unsorted"]
            return [g for q in unsorted for g in client.predict(project_id=q["id"], api_name="/list_generations")
                    if g["kind"] == "song" and g["params"].get("theme") == "a voyage that never ends"]

        song = stop_once_running(page, "#compose-stop", songs)
        assert song["status"] == "cancelled" and song["outputs"] == []
        expect(page.locator("#compose-button")).to_be_enabled()
        browser.close()
