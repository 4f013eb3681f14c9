"""Two people in two browser contexts. Alice's project stays hers until she shares it with bob as
a viewer (he can read, not add), and is gone from his browser when she revokes it. Nothing else of
hers reaches bob through the UI either: her cloned voice is in none of his voice pickers (typed in,
its id is refused like one that does not exist), her song, speech and project are neither listed nor
re-mixable, and the download links made for her are refused to him. Once she shares the voice, he
speaks with it (but cannot delete it or hear its recordings), until she revokes it."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from tests.conftest import VOICES, AppProcess, free_port

pytestmark = pytest.mark.e2e

USERS = {"alice": "alice-password", "bob": "bob-password"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("accounts-browser") / "data"
    app = AppProcess(data_dir, free_port(), env={"AUTH": ",".join(f"{u}:{p}" for u, p in USERS.items())})
    yield app
    app.stop()


def sign_in(browser, app, user: str, password: str | None = None):
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(app.url)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password or USERS[user])
    page.get_by_role("button", name="Login").click()
    if password is None:
        expect(page.get_by_role("tab", name="Projects")).to_be_visible(timeout=30000)
    return page


def open_projects(page) -> None:
    from playwright.sync_api import expect

    page.reload()
    page.get_by_role("tab", name="Projects").click()
    expect(page.locator("#project-select")).to_be_visible(timeout=15000)


def project_options(page) -> list[str]:
    page.locator("#project-select input").click()
    names = page.locator("ul[role=listbox] li").all_inner_texts()
    page.keyboard.press("Escape")
    return names


def offered(page, picker: str, once: str | None = None) -> list[str]:
    """The choices of dropdown #picker, read once they hold `once` (the list is filled when the page
    loads, so an early read would be empty and prove nothing)."""
    from playwright.sync_api import expect

    page.locator(f"#{picker} input").click()
    listbox = page.locator("ul[role=listbox]")
    if once is not None:
        expect(listbox.get_by_role("option", name=once, exact=False).first).to_be_visible(timeout=15000)
    names = [n.removeprefix("✓").strip() for n in listbox.locator("li").all_inner_texts()]
    page.keyboard.press("Escape")
    return names


def choose(page, picker: str, name: str) -> None:
    """Pick the choice of dropdown #picker whose label starts with `name`."""
    page.locator(f"#{picker} input").fill(name)
    page.get_by_role("option", name=name, exact=False).first.click()


def refusal(page, button) -> str:
    """Press `button` (a selector or a locator) and return the one error it shows (closed after reading)."""
    from playwright.sync_api import expect

    (page.locator(button) if isinstance(button, str) else button).click()
    message = page.locator("[data-testid=toast-text]")
    expect(message).to_have_count(1, timeout=30000)
    said = message.inner_text()
    page.locator("[data-testid=toast-close]").click()
    expect(message).to_have_count(0)
    return said


def typed_voice_refusal(page, picker: str, button: str, voice: str) -> str:
    """Type `voice` into picker #picker as one may (it takes custom values) and press `button`:
    the error, with the typed value written as V."""
    page.locator(f"#{picker} input").fill(voice)
    page.keyboard.press("Enter")
    return refusal(page, button).replace(voice, "V")


def test_a_wrong_password_is_refused_on_the_login_page(browser, app):
    from playwright.sync_api import expect

    page = sign_in(browser, app, "bob", "not bob's password")
    expect(page.get_by_text(re.compile("incorrect", re.I))).to_be_visible(timeout=15000)
    expect(page.get_by_role("tab", name="Projects")).to_have_count(0)
    page.context.close()


def test_alices_project_reaches_bob_only_while_shared(browser, app, samples):
    from playwright.sync_api import expect

    alice, bob = sign_in(browser, app, "alice"), sign_in(browser, app, "bob")
    open_projects(alice)
    alice.locator("#new-project-name textarea, #new-project-name input").first.fill("Alice's secret")
    alice.click("#create-project")
    expect(alice.locator("#projects-status")).to_contain_text("Created project", timeout=15000)
    photo = samples / "portraits" / "art_0.png"
    alice.set_input_files("#upload-media input[type=file]", str(photo))
    expect(alice.locator("#upload-media")).to_contain_text(photo.name, timeout=15000)
    alice.click("#upload-button")
    expect(alice.locator("#projects-status")).to_contain_text("Added 1", timeout=30000)

    open_projects(bob)
    assert not [o for o in project_options(bob) if "Alice's secret" in o]

    alice.get_by_text("Share", exact=True).click()
    alice.locator("#share-user textarea, #share-user input").first.fill("bob")
    alice.click("#share-project")
    expect(alice.locator("#projects-status")).to_contain_text("Shared with bob as viewer", timeout=15000)
    expect(alice.locator("#shares-list")).to_contain_text("with bob as viewer")

    open_projects(bob)
    (shared,) = [o for o in project_options(bob) if "Alice's secret" in o]
    assert "shared by alice: viewer" in shared
    # It is bob's only project, so the tab opens on it.
    expect(bob.locator("#project-select input")).to_have_value(re.compile("^Alice's secret"))
    expect(bob.locator("#assets-table")).to_contain_text(photo.name, timeout=15000)
    bob.set_input_files("#upload-media input[type=file]", str(samples / "portraits" / "art_1.png"))
    expect(bob.locator("#upload-media")).to_contain_text("art_1.png", timeout=15000)
    bob.click("#upload-button")
    expect(bob.locator("#projects-status")).to_contain_text("shared with you as viewer", timeout=30000)
    expect(bob.locator("#assets-table")).not_to_contain_text("art_1.png")

    alice.click("#unshare-project")
    expect(alice.locator("#projects-status")).to_contain_text("Revoked", timeout=15000)
    open_projects(bob)
    assert not [o for o in project_options(bob) if "Alice's secret" in o]
    for page in (alice, bob):
        page.context.close()


ALICES_VOICE = "Alice's voice"
# 3.5 s of one LibriSpeech reader: about the shortest clip the cloner takes, so the voice is cheap.
ALICES_CLIP = VOICES / "librispeech-1688" / "1688-142285-0009.flac"
NO_VOICE = "profile:987654"  # an id no voice has
# Tab -> its voice picker, with a choice the picker holds once the page has loaded.
VOICE_PICKERS = {"Voice": ("voice-select", "en-us (embedded)"),
                 "Talking Head": ("th-voice", "en-us (embedded)"),
                 "Music & Lyrics": ("music-voice", "Default (the style's"),
                 "Slides": ("slides-voice", "en-us (embedded)")}


@pytest.fixture(scope="module")
def alices(app) -> dict:
    """Alice's project and cloned voice, made through the client API as alice: what is checked is
    what bob's browser shows, not how she made them."""
    from gradio_client import Client, handle_file

    alice = Client(app.url, auth=("alice", USERS["alice"]), verbose=False, download_files=False)
    project = alice.predict(name="Alice's studio", api_name="/create_project")
    voice = alice.predict(name=ALICES_VOICE, reference_audio=handle_file(str(ALICES_CLIP)), consent=True,
                          api_name="/create_voice")["voice"]
    return {"project": project["name"], "voice": voice,
            "voice_label": f"{ALICES_VOICE} — cloned voice #{voice.removeprefix('profile:')}"}


def open_tab(page, tab: str) -> None:
    page.get_by_role("tab", name=tab, exact=True).click()
    if tab == "Talking Head":  # its voice picker is under "Speech from text"
        page.get_by_role("tab", name="Speech from text", exact=True).click()


def voice_pickers(page) -> dict[str, list[str]]:
    """The choices of every tab's voice picker."""
    out = {}
    for tab, (picker, loaded) in VOICE_PICKERS.items():
        open_tab(page, tab)
        out[tab] = offered(page, picker, loaded)
    return out


def test_nothing_of_alices_reaches_bob_through_the_ui(browser, app, alices, samples, tmp_path):
    from playwright.sync_api import expect

    alice, bob = sign_in(browser, app, "alice"), sign_in(browser, app, "bob")

    # Alice sees her voice in every picker; she speaks, composes into her project and exports it.
    for tab, names in voice_pickers(alice).items():
        assert alices["voice_label"] in names, tab
    open_tab(alice, "Voice")
    choose(alice, "voice-project", alices["project"])
    alice.fill("#voice-text textarea", "Only alice may hear this.")
    alice.click("#speak-button")
    expect(alice.locator("#voice-figures")).to_contain_text("LUFS", timeout=60000)
    downloads = {"speech": alice.locator("#speech-audio a[data-testid=download-link]").get_attribute("href")}
    open_tab(alice, "Music & Lyrics")
    choose(alice, "music-project", alices["project"])
    alice.fill("#music-theme textarea", "a song of my own")
    alice.locator("#music-title textarea, #music-title input").first.fill("Alice's song")
    alice.fill("#music-lyrics textarea", "[Verse]\nA song of mine\n[Chorus]\nMine alone")
    alice.get_by_label("Length (s)", exact=False).first.fill("10")
    alice.locator("#music-theme textarea").click()
    alice.click("#compose-button")
    expect(alice.locator("#song-info")).to_contain_text("LUFS", timeout=120000)
    # The song, stems, MIDI and LRC, and the MIDI's and LRC's Content Credentials sidecars.
    expect(alice.locator("#song-files a")).to_have_count(7, timeout=15000)
    downloads["song"] = next(h for h in (a.get_attribute("href") for a in alice.locator("#song-files a").all())
                             if h.endswith(".mp3"))

    # While her speech and song are open in her browser, bob's Regenerate and Re-mix have nothing to work on.
    open_tab(bob, "Voice")
    bob.get_by_text("Sentences: edit and regenerate one").click()
    assert "Speak something first" in refusal(bob, bob.get_by_role("button", name="Regenerate this sentence"))
    open_tab(bob, "Music & Lyrics")
    bob.get_by_text("Mixing console").click()
    assert "Compose a song first" in refusal(bob, "#remix-button")

    alice.reload()  # the Video tab lists the songs there were when the page loaded
    open_tab(alice, "Video")
    alice.get_by_role("tab", name="Music video", exact=True).click()
    (song,) = [s for s in offered(alice, "mv-song", "Alice's song") if "Alice's song" in s]
    open_tab(alice, "Projects")
    choose(alice, "project-select", alices["project"])
    for kind in ("speak", "song"):
        expect(alice.locator("#generations-table")).to_contain_text(kind, timeout=15000)
    alice.get_by_text("Export / import").click()
    alice.click("#export-project")
    expect(alice.locator("#projects-status")).to_contain_text("Exported", timeout=30000)
    downloads["export"] = alice.locator("#project-export a").first.get_attribute("href")
    alices_projects = offered(alice, "project-select", alices["project"])
    assert [p for p in alices_projects if p.startswith(alices["project"])]
    # Her portrait as she uploaded it, and the face found in it. Gradio keeps the same bytes in one
    # folder for everyone who sent them, so hers carries a note no one else's portrait has.
    from PIL import Image, PngImagePlugin

    note = PngImagePlugin.PngInfo()
    note.add_text("Comment", "alice's portrait")
    portrait = tmp_path / "alice.png"
    Image.open(samples / "portraits" / "art_1.png").save(portrait, pnginfo=note)
    open_tab(alice, "Talking Head")
    alice.set_input_files("#th-portrait input[type=file]", str(portrait))
    expect(alice.locator("#th-face img")).to_be_visible(timeout=30000)
    downloads["portrait"] = alice.locator("#th-portrait img").first.get_attribute("src")
    downloads["face"] = alice.locator("#th-face img").first.get_attribute("src")

    # Bob: her voice is in none of his pickers, nor in his profiles.
    for tab, names in voice_pickers(bob).items():
        assert not [n for n in names if ALICES_VOICE in n], tab
    open_tab(bob, "Voice")
    bob.get_by_text("Voice profiles: clone a voice").click()
    expect(bob.locator("#profiles-table")).not_to_contain_text(ALICES_VOICE)

    # Typed into a picker, her voice's id (or name) is refused exactly as one that does not exist.
    bob.fill("#voice-text textarea", "Let me speak as alice.")
    open_tab(bob, "Talking Head")
    bob.set_input_files("#th-portrait input[type=file]", str(samples / "portraits" / "art_0.png"))
    expect(bob.locator("#th-face-notes")).to_contain_text("face", timeout=30000)
    bob.fill("#th-text textarea", "Let me speak as alice.")
    for tab, picker, button in (("Voice", "voice-select", "#speak-button"), ("Talking Head", "th-voice", "#th-button"),
                                ("Music & Lyrics", "music-voice", "#compose-button"),
                                ("Slides", "slides-voice", "#slides-make")):
        open_tab(bob, tab)
        theirs = typed_voice_refusal(bob, picker, button, alices["voice"])
        assert theirs == typed_voice_refusal(bob, picker, button, NO_VOICE), tab
        assert "there is no voice profile 'V'" in theirs, (tab, theirs)
    open_tab(bob, "Voice")
    theirs = typed_voice_refusal(bob, "voice-select", "#speak-button", ALICES_VOICE)
    assert theirs == typed_voice_refusal(bob, "voice-select", "#speak-button", "Nobody's voice")
    assert 'unknown voice "V"' in theirs

    # Her song is not among his for a music video; her project is not among his.
    open_tab(bob, "Video")
    bob.get_by_role("tab", name="Music video", exact=True).click()
    expect(bob.locator("#video-templates img").first).to_be_visible(timeout=15000)  # the tab has loaded
    assert song not in offered(bob, "mv-song")
    open_tab(bob, "Projects")
    bob.locator("#new-project-name textarea, #new-project-name input").first.fill("Bob's own")
    bob.click("#create-project")
    expect(bob.locator("#projects-status")).to_contain_text("Created project", timeout=15000)
    bobs_projects = offered(bob, "project-select", "Bob's own")
    assert not [p for p in bobs_projects if p.startswith(alices["project"])]
    assert not set(bobs_projects) & set(alices_projects)

    # The links made for her download for her, and are refused to him.
    for what, href in downloads.items():
        assert alice.request.get(href).ok, what
        assert bob.request.get(href).status in (403, 404), what
    # Nor does naming her upload as a file of his own call get it (what a page of his could send).
    forged = {"path": unquote(downloads["portrait"].split("file=", 1)[1]), "orig_name": "mine.png",
              "meta": {"_type": "gradio.FileData"}}
    assert bob.request.post(app.url + "gradio_api/call/import_project", data={"data": [forged]}).status == 403
    for page in (alice, bob):
        page.context.close()


def test_alices_voice_speaks_for_bob_only_while_shared(browser, app, alices):
    from playwright.sync_api import expect

    alice, bob = sign_in(browser, app, "alice"), sign_in(browser, app, "bob")
    alice.get_by_text("Voice profiles: clone a voice").click()
    alice.locator("#profiles-table").get_by_text(ALICES_VOICE, exact=True).last.click()
    # She reads what her recordings are and say; bob (below) reads neither.
    expect(alice.locator("#profile-info")).to_contain_text(ALICES_CLIP.name, timeout=15000)
    expect(alice.locator("#profile-info")).to_contain_text("transcripts")
    alice.locator("#share-voice-user textarea, #share-voice-user input").first.fill("bob")
    alice.click("#share-voice")
    expect(alice.locator("#profile-status")).to_contain_text("bob may now speak with this voice", timeout=15000)

    bob.reload()
    shared = f"{alices['voice_label']}, shared by alice"
    for tab, names in voice_pickers(bob).items():
        assert shared in names, tab
    open_tab(bob, "Voice")
    bob.get_by_text("Voice profiles: clone a voice").click()
    row = bob.locator("#profiles-table").get_by_text(f"{ALICES_VOICE} (shared by alice)", exact=True).last
    row.click()
    expect(bob.locator("#profile-info")).to_contain_text("alice", timeout=15000)
    for hers in (ALICES_CLIP.name, "transcripts"):
        expect(bob.locator("#profile-info")).not_to_contain_text(hers)
    assert "only its owner can change it" in refusal(bob, bob.get_by_role("button", name="Delete profile"))
    choose(bob, "voice-select", shared)
    bob.fill("#voice-text textarea", "Alice lets me speak with her voice.")
    bob.click("#speak-button")
    expect(bob.locator("#voice-figures")).to_contain_text("similarity", timeout=60000)

    alice.click("#unshare-voice")
    expect(alice.locator("#profile-status")).to_contain_text("Revoked", timeout=15000)
    bob.reload()
    for tab, names in voice_pickers(bob).items():
        assert not [n for n in names if ALICES_VOICE in n], tab
    open_tab(bob, "Voice")
    bob.fill("#voice-text textarea", "Still alice's?")
    assert "there is no voice profile 'V'" in typed_voice_refusal(bob, "voice-select", "#speak-button",
                                                                  alices["voice"])
    # Bob's refused delete left it hers.
    alice.reload()
    assert alices["voice_label"] in offered(alice, "voice-select", "en-us (embedded)")
    for page in (alice, bob):
        page.context.close()


def test_the_security_panel_is_the_admins_and_shows_failed_sign_ins(browser, app):
    from playwright.sync_api import expect

    for _ in range(3):
        sign_in(browser, app, "bob", "still not bob's password").context.close()
    alice, bob = sign_in(browser, app, "alice"), sign_in(browser, app, "bob")
    expect(bob.get_by_role("tab", name="Projects")).to_be_visible()
    expect(bob.get_by_role("tab", name="Admin")).to_have_count(0)
    alice.get_by_role("tab", name="Admin").click()
    alice.locator("#events-type input").fill("login_failed")
    alice.locator("#events-type input").press("Enter")
    alice.click("#events-show")
    table = alice.locator("#security-events")
    expect(table).to_contain_text("login_failed", timeout=15000)
    expect(table).to_contain_text("bob")
    expect(table).to_contain_text("127.0.0.1")
    expect(table).to_contain_text("HeadlessChrome")
    expect(alice.locator("#admin-users")).to_contain_text("bob")
    alice.screenshot(path=str(app.data_dir.parent / "security-panel.png"), full_page=True)
    for page in (alice, bob):
        page.context.close()
