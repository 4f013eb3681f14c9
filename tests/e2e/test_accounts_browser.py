"""Two people in two browser contexts: alice's project stays hers until she shares it with bob
as a viewer (he can read, not add), and is gone from his browser when she revokes it."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.conftest import AppProcess, free_port
from tests.e2e import ARGS, CHROMIUM

pytestmark = pytest.mark.e2e

USERS = {"alice": "alice-password", "bob": "bob-password"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("accounts-browser") / "data"
    app = AppProcess(data_dir, free_port(), env={"AUTH": ",".join(f"{u}:{p}" for u, p in USERS.items())})
    yield app
    app.stop()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium"):
        pytest.skip("Debian chromium not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


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
