"""A person in Chromium on the Video tab: upload audio, make a scene video with captions, and it plays
at the size asked for."""

from __future__ import annotations

import pytest
import soundfile as sf

from tests.e2e import ARGS, CHROMIUM, stop_once_running

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


def test_stop_ends_a_long_scene_video(app_server, client, tmp_path):
    """A 4-minute scene video, stopped once it is under way: recorded "cancelled", nothing kept, and
    the button is ready again."""

    import numpy as np

    sync_api = pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import expect

    rate = 22_050
    t = np.arange(240 * rate) / rate
    wav = tmp_path / "long-drone.wav"
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 196 * t)).astype(np.float32), rate)

    def videos() -> list[dict]:
        return [g for q in client.predict(api_name="/list_projects")
                for g in client.predict(project_id=q["id"], api_name="/list_generations")
                if g["kind"] == "scene_video" and g["id"] not in before]

    before: set[int] = set()
    before = {g["id"] for g in videos()}

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.goto(app_server.url)
        page.get_by_role("tab", name="Video", exact=True).click()
        page.set_input_files("#video-audio input[type=file]", str(wav))
        page.click("#scene-button")
        made = stop_once_running(page, "#scene-stop", videos)
        assert made["status"] == "cancelled" and made["outputs"] == []
        expect(page.locator("#scene-button")).to_be_enabled()
        browser.close()
