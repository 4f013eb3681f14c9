"""A person in Chromium on the Verify tab: a file the studio made is recognised, with its generation,
after MP3 re-encoding too; a real recording is not taken for made here."""

from __future__ import annotations

import subprocess

import pytest

pytestmark = pytest.mark.e2e


def test_verify_a_made_file_and_a_real_recording(browser, app_server, client, samples, tmp_path):
    from playwright.sync_api import expect

    p = client.predict(name="Verify in the browser", api_name="/create_project")
    text = ("The lighthouse keeper wrote every storm into his book, one line a night, and the sea kept none "
            "of his secrets for long.")
    speech = client.predict(text=text, project_id=p["id"], api_name="/speak")
    (gen,) = client.predict(project_id=p["id"], api_name="/list_generations")
    mp3 = tmp_path / "found.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", speech, "-b:a", "128k", str(mp3)], check=True)
    real = sorted((samples / "voices" / "librispeech-1688").glob("*.flac"))[0]

    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(app_server.url)
    page.get_by_role("tab", name="Verify").click()
    verdict = page.locator("#verify-verdict")
    for path, expected in ((speech, ["Made here", f"speak generation {gen['id']}", "Content Credentials**: Trusted",
                                     "AI-generated"]),
                           (mp3, ["Made here", f"speak generation {gen['id']}", "none in this file",
                                  "Audio watermark**: found"]),
                           (real, ["Not made here", "no watermark of this studio"])):
        clear = page.locator("#verify-file button[aria-label='Clear']")
        if clear.count():
            clear.first.click()
        page.set_input_files("#verify-file input[type=file]", str(path))
        page.click("#verify-button")
        for text in expected:
            expect(verdict).to_contain_text(text.replace("**", ""), timeout=60000)
    page.close()


def test_verify_lyrics_with_their_sidecar(browser, app_server, client, tmp_path, exported):
    """A text file and its Content Credentials sidecar, given in the tab's two file inputs."""
    from playwright.sync_api import expect

    p = client.predict(name="Verify a text", api_name="/create_project")
    client.predict(theme="a lighthouse keeper", title="Lamp", lyrics="[Verse]\nThe lamp is lit\n[Chorus]\nShine on",
                   music_style="pop", voice_style="soprano", duration_s=10, seed=1, project_id=p["id"],
                   api_name="/compose_song")
    files = exported(client, p["id"], tmp_path)
    lyrics = next(n for n in files if n.endswith("lyrics.txt"))
    gen = client.predict(project_id=p["id"], api_name="/list_generations")[0]["id"]

    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(app_server.url)
    page.get_by_role("tab", name="Verify").click()
    page.set_input_files("#verify-file input[type=file]", str(files[lyrics]))
    page.set_input_files("#verify-sidecar input[type=file]", str(files[f"{lyrics}.c2pa"]))
    page.click("#verify-button")
    verdict = page.locator("#verify-verdict")
    for text in ("Made here", f"song generation {gen}", "Content Credentials (sidecar): Trusted",
                 "the file is unchanged since it was signed"):
        expect(verdict).to_contain_text(text, timeout=60000)
    page.close()
