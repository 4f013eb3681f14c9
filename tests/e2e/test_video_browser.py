"""A person in Chromium on the Video tab: upload audio, make a scene video with captions, and it plays
at the size asked for."""

from __future__ import annotations

import pytest
import soundfile as sf

from tests.e2e.test_projects_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.e2e


def test_scene_video_plays_at_its_size(app_server, samples, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect

    flac = sorted((samples / "voices" / "librispeech-1998").glob("*.flac"))[0]
    y, sr = sf.read(str(flac))
    wav = tmp_path / "speech.wav"
    sf.write(wav, y[: int(3 * sr)], sr)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(app_server.url)
        page.get_by_role("tab", name="Video", exact=True).click()
        from engines.video.scenes import template_names

        expect(page.locator("#video-templates img")).to_have_count(len(template_names()), timeout=60000)
        page.set_input_files("#video-audio input[type=file]", str(wav))
        page.fill("#video-captions textarea", "[00:00.20]Hello from the scene")
        page.click("#scene-button")
        expect(page.locator("#video-info")).to_contain_text("1280x720", timeout=180000)
        page.evaluate("() => { const v = document.querySelector('#video-player video'); v.muted = true; v.play(); }")
        page.wait_for_function("() => document.querySelector('#video-player video').currentTime > 0.3",
                               timeout=30000)
        assert page.evaluate("() => document.querySelector('#video-player video').videoWidth") == 1280
        assert page.evaluate("() => document.querySelector('#video-player video').videoHeight") == 720
        browser.close()
