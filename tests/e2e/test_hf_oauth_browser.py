"""Hugging Face sign-in in a real Chromium, against the test OpenID provider (tests/openid_provider.py):
a visitor gets the sign-in page, signs in, sees the studio with "Sign out (<name>)" (and the Admin tab
when ADMIN_USERS names them), and signs out again. Chromium keeps the Secure session cookie on
http://127.0.0.1, as it treats loopback addresses as secure."""

from __future__ import annotations

import pytest

from tests.conftest import AppProcess, free_port
from tests.openid_provider import OpenIDProvider

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def provider():
    p = OpenIDProvider("studio-browser-client", "studio-browser-secret")
    p.add_user("ada", name="Ada Lovelace")
    p.add_user("bob", name="Bob")
    yield p
    p.stop()


@pytest.fixture(scope="module")
def app(provider, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("hf-oauth-browser") / "data"
    app = AppProcess(data_dir, free_port(), env=provider.space_env(ADMIN_USERS="ada"))
    yield app
    app.stop()


def signed_in_page(browser, app, provider, who: str):
    """A new browser that signs in at the provider as `who`, then presses "Sign in with Hugging Face"."""
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(app.url)
    expect(page.locator("#hf-sign-in")).to_be_visible(timeout=15000)
    expect(page.get_by_role("tab", name="Projects")).to_have_count(0)
    page.request.post(provider.url + "/signin", form={"username": who})
    page.locator("#hf-sign-in").click()
    expect(page.locator("#hf-login")).to_have_text(f"Sign out ({who})", timeout=30000)
    return page


def test_sign_in_and_out_with_hugging_face(browser, app, provider):
    from playwright.sync_api import expect

    ada = signed_in_page(browser, app, provider, "ada")
    expect(ada.get_by_role("tab", name="Projects")).to_be_visible()
    expect(ada.get_by_role("tab", name="Admin")).to_be_visible(timeout=15000)  # ADMIN_USERS=ada
    (session,) = [c for c in ada.context.cookies() if c["name"] == "session"]
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "None"

    bob = signed_in_page(browser, app, provider, "bob")
    expect(bob.get_by_role("tab", name="Projects")).to_be_visible()
    bob.wait_for_timeout(2000)  # the Admin tab is shown by a load event, if at all
    expect(bob.get_by_role("tab", name="Admin")).to_have_count(0)

    ada.locator("#hf-login").click()
    expect(ada.locator("#hf-sign-in")).to_be_visible(timeout=15000)
    ada.goto(app.url)
    expect(ada.locator("#hf-sign-in")).to_be_visible(timeout=15000)
    expect(bob.locator("#hf-login")).to_have_text("Sign out (bob)")  # bob's session is his own
    for page in (ada, bob):
        page.context.close()
