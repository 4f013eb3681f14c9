"""A person in Chromium on the Voice tab: upload a sample to make a voice, speak with it, play it."""

from __future__ import annotations

import pytest

from tests.e2e import ARGS, CHROMIUM

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(app_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=[*ARGS, "--autoplay-policy=no-user-gesture-required"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1200})
        pg.goto(app_server.url)
        yield pg
        browser.close()


def _seconds(text: str) -> float:
    m, s = text.strip().split(":")
    return int(m) * 60 + float(s)


def test_speak_and_play(page, tmp_path):
    import soundfile as sf
    from playwright.sync_api import expect

    page.fill("#voice-text textarea", "Hello from the browser test. The studio speaks.")
    page.click("#speak-button")
    expect(page.locator("#voice-figures")).to_contain_text("LUFS", timeout=30000)
    player = page.locator("#speech-audio")
    expect(player.locator("#duration")).not_to_have_text("0:00", timeout=15000)
    assert 2.0 <= _seconds(player.locator("#duration").inner_text()) <= 8.0

    # The download is a real WAV of that length.
    href = player.locator("a[data-testid=download-link]").get_attribute("href")
    wav = tmp_path / "speech.wav"
    wav.write_bytes(page.request.get(href).body())
    assert 2.0 < sf.info(str(wav)).duration < 8.0

    # Pressing play moves the clock.
    player.locator("button[aria-label=Play]").click()
    expect(player.locator("#time")).not_to_have_text("0:00", timeout=5000)


def test_clone_a_voice_from_an_uploaded_sample_and_speak_with_it(page, samples):
    from playwright.sync_api import expect

    flac = sorted((samples / "voices" / "librispeech-1688").glob("*.flac"))[0]
    page.get_by_text("Voice profiles: clone a voice").click()
    page.set_input_files("#profile-recording input[type=file]", str(flac))
    page.fill("#profile-name textarea, #profile-name input", "Browser voice")
    page.click("#create-profile")
    # Refused without consent: the reason shows as an error toast.
    expect(page.locator(".toast-body").first).to_contain_text("consent", timeout=30000)
    page.check("#consent input[type=checkbox]")
    page.click("#create-profile")
    expect(page.locator("#profile-status")).to_contain_text("Created Browser voice", timeout=90000)
    expect(page.locator("#profiles-table")).to_contain_text("Browser voice", timeout=15000)

    page.locator("#voice-select input").fill("Browser voice")
    page.get_by_role("option", name="Browser voice", exact=False).first.click()
    page.fill("#voice-text textarea", "This is my cloned voice in the browser.")
    page.click("#speak-button")
    expect(page.locator("#voice-figures")).to_contain_text("similarity", timeout=60000)
