"""The Hugging Face login button exists only in a Space with OAuth: anywhere else Gradio would mock
the sign-in with the machine's own Hugging Face account, so asking for it stops the start."""

from __future__ import annotations

import pytest
from gradio import oauth

from tabs.hf_oauth import login_button


@pytest.fixture
def space(monkeypatch):
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "tests/studio")
    for name, value in (("OAUTH_CLIENT_ID", "client"), ("OAUTH_CLIENT_SECRET", "secret"),
                        ("OPENID_PROVIDER_URL", "http://127.0.0.1:9")):
        monkeypatch.setattr(oauth, name, value)  # Gradio read them at import
    return monkeypatch


def test_the_login_button_in_a_space_with_oauth(space):
    button = login_button()
    assert button.elem_id == "hf-login" and button.logout_value == "Sign out ({})"


@pytest.mark.parametrize("missing", ["SYSTEM", "SPACE_ID", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET",
                                     "OPENID_PROVIDER_URL"])
def test_no_login_button_outside_a_space_with_oauth(space, missing):
    if missing in ("SYSTEM", "SPACE_ID"):
        space.delenv(missing)
    else:
        space.setattr(oauth, missing, None)
    with pytest.raises(SystemExit, match="Hugging Face sign-in needs a Space"):
        login_button()
