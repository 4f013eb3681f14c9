"""A person in Chromium: create a project, upload a real audio sample, see it listed and play it."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.e2e import ARGS, CHROMIUM

pytestmark = pytest.mark.e2e



def shown_name(name: str) -> re.Pattern:
    """A file's name as the upload box shows it: stem and extension may be separate parts."""
    stem, dot, ext = name.rpartition(".")
    return re.compile(re.escape(stem) + r"\s*" + re.escape(dot + ext))


@pytest.fixture(scope="module")
def page(app_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium"):
        pytest.skip("Debian chromium not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.goto(app_server.url)
        pg.get_by_role("tab", name="Projects").click()
        yield pg
        browser.close()


def test_create_project_upload_audio_and_see_it_listed(page, samples, client):
    from playwright.sync_api import expect

    flac = samples / "voices" / "librispeech-1688" / "1688-142285-0002.flac"
    page.locator("#new-project-name textarea, #new-project-name input").first.fill("Browser project")
    page.click("#create-project")
    expect(page.locator("#projects-status")).to_contain_text("Created project", timeout=15000)
    expect(page.locator("#project-select input")).to_have_value(re.compile("^Browser project"))

    page.set_input_files("#upload-media input[type=file]", str(flac))
    expect(page.locator("#upload-media")).to_contain_text(shown_name(flac.name), timeout=15000)
    page.click("#upload-button")
    expect(page.locator("#projects-status")).to_contain_text(f"Added 1: {flac.name} (audio)", timeout=30000)
    row = page.locator("#assets-table").get_by_text(flac.name, exact=True).last
    expect(row).to_be_visible(timeout=15000)
    expect(page.locator("#assets-table")).to_contain_text("audio")

    # The same asset is in the library, seen through the API.
    projects = client.predict(api_name="/list_projects")
    (mine,) = [p for p in projects if p["name"] == "Browser project"]
    assets = client.predict(project_id=mine["id"], api_name="/list_assets")
    assert [a["name"] for a in assets] == [flac.name]

    # Selecting the row shows an audio player for it.
    row.click()
    expect(page.locator("audio, #waveform, .waveform-container").first).to_be_attached(timeout=15000)


def test_refused_upload_shows_the_reason(page, tmp_path):
    from playwright.sync_api import expect

    fake = tmp_path / "voice.wav"
    fake.write_text("not really audio")
    page.set_input_files("#upload-media input[type=file]", str(fake))
    expect(page.locator("#upload-media")).to_contain_text(shown_name("voice.wav"), timeout=15000)
    page.click("#upload-button")
    expect(page.locator("#projects-status")).to_contain_text("named as audio", timeout=30000)
    expect(page.locator("#assets-table")).not_to_contain_text("voice.wav")


def test_run_a_generation_again_from_the_projects_tab(page, client):
    """Click a speech in the generations table, change its speed, run it again: a second generation
    with the new speed appears, and the first is kept."""
    from playwright.sync_api import expect

    (mine,) = [p for p in client.predict(api_name="/list_projects") if p["name"] == "Browser project"]
    client.predict(text="Said once, then again more slowly.", voice="en-us", project_id=mine["id"], api_name="/speak")
    (first,) = client.predict(project_id=mine["id"], api_name="/list_generations")
    page.reload()
    page.get_by_role("tab", name="Projects").click()
    page.locator("#project-select input").click()
    page.get_by_role("option", name=re.compile("^Browser project")).click()
    table = page.locator("#generations-table")
    expect(table).to_contain_text("speak", timeout=15000)
    table.get_by_role("gridcell", name="speak", exact=True).first.click()
    expect(page.locator("#rerun-id input")).to_have_value(str(first["id"]), timeout=15000)
    page.fill("#rerun-changes textarea", '{"speed": 0.7}')
    page.click("#rerun-button")
    expect(page.locator("#projects-status")).to_contain_text(f"Ran generation {first['id']} again as generation",
                                                             timeout=60000)
    again, kept = client.predict(project_id=mine["id"], api_name="/list_generations")
    assert kept["id"] == first["id"] and again["params"]["speed"] == 0.7 and again["status"] == "succeeded"
    # The table shows both, newest first.
    expect(table.locator("[data-testid=cell-0-0]")).to_have_text(str(again["id"]), timeout=15000)
    expect(table.locator("[data-testid=cell-1-0]")).to_have_text(str(first["id"]), timeout=15000)

    # Rate the slower one: 5 stars, "great".
    table.locator("[data-testid=cell-0-1]").click()
    expect(page.locator("#rerun-id input")).to_have_value(str(again["id"]), timeout=15000)
    page.locator("#rate-stars").get_by_text("5", exact=True).click()
    page.locator("#rate-tags").get_by_text("great", exact=True).click()
    page.click("#rate-button")
    expect(page.locator("#projects-status")).to_contain_text(f"Rated generation {again['id']}: 5 stars (great)",
                                                             timeout=15000)
