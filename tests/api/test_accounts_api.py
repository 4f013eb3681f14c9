"""Two signed-in users through the public API: bob can reach nothing of alice's, by any id-taking
endpoint (enumerated from view_api, so a new endpoint is covered the day it is added), nor her
files by URL; requests without a session are refused; failed sign-ins are slowed and logged."""

from __future__ import annotations

import re
import sqlite3
import time

import httpx
import pytest
from gradio_client import Client, handle_file

from tests.conftest import AppProcess, free_port, voice_clips

USERS = {"alice": "alice-password", "bob": "bob-password", "carol": "carol-password"}
# Parameters that name something a user owns, with how to write an id that exists nowhere.
ID_PARAMS = {"project_id": 987654, "generation_id": 987654, "song_id": 987654, "voice": "profile:987654",
             "prompt_id": 987654}
NOT_IDS = {"voice_style"}  # named like an id parameter, but a preset name


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("accounts-app") / "data"
    auth = ",".join(f"{u}:{p}" for u, p in USERS.items())
    app = AppProcess(data_dir, free_port(), env={"AUTH": auth})
    yield app
    app.stop()


def client_for(app, user: str, tmp_path_factory, **kw) -> Client:
    kw.setdefault("download_files", str(tmp_path_factory.mktemp(f"dl-{user}")))
    return Client(app.url, auth=(user, USERS[user]), verbose=False, **kw)


@pytest.fixture(scope="module")
def alice(app, tmp_path_factory):
    return client_for(app, "alice", tmp_path_factory)


@pytest.fixture(scope="module")
def bob(app, tmp_path_factory):
    return client_for(app, "bob", tmp_path_factory)


@pytest.fixture(scope="module")
def alices(alice, tmp_path_factory):
    """Alice's project (with a photo), a speech, a cloned voice and a short song: their ids."""
    from tests.conftest import SAMPLES

    p = alice.predict(name="Alice's private project", api_name="/create_project")
    photo = alice.predict(project_id=p["id"], file=handle_file(str(SAMPLES / "portraits" / "art_0.png")),
                          api_name="/upload_media")
    alice.predict(text="Only alice may hear this.", voice="en-us", project_id=p["id"], api_name="/speak")
    (speech,) = alice.predict(project_id=p["id"], api_name="/list_generations")
    voice = alice.predict(name="Alice's voice", reference_audio=handle_file(str(voice_clips("librispeech-1998")[0])),
                          consent=True, api_name="/create_voice")
    short = "[Verse]\nA song of mine\n[Chorus]\nMine alone"
    song = alice.predict(theme="a private song", title="Mine", lyrics=short, music_style="pop",
                         voice_style="soprano", duration_s=10, seed=1, project_id=p["id"], api_name="/compose_song")[0]
    song_id = int(re.search(r" - song (\d+)\.wav$", song).group(1))
    prompt = alice.predict(speaker="Alice", api_name="/consent_prompt")
    return {"project_id": p["id"], "asset_id": photo["id"], "generation_id": speech["id"], "song_id": song_id,
            "voice": voice["voice"], "prompt_id": prompt["prompt_id"]}


def _filler(name: str, info: dict, tmp_path) -> object:
    """A plausible value for a required parameter that is not the id under test."""
    from tests.conftest import SAMPLES

    png, flac = SAMPLES / "portraits" / "art_1.png", voice_clips("librispeech-1998")[1]
    if name == "pptx":
        from pptx import Presentation

        deck = Presentation()
        deck.slides.add_slide(deck.slide_layouts[0]).shapes.title.text = "Hello"
        deck.save(tmp_path / "deck.pptx")
        return handle_file(str(tmp_path / "deck.pptx"))
    if "audio" in name:
        return handle_file(str(flac))
    if name in ("images",):
        return [handle_file(str(png))]
    if name in ("portrait", "presenter", "file"):
        return handle_file(str(png))
    if name in ("sentence", "stars"):
        return 1
    if name == "consent":
        return True
    if name == "outline":
        return "# Deck\n## One\n- a point"
    return "Hello there."


def _masked(message: str, value: object) -> str:
    """The message with the id (a number, or "profile:<number>") written as N."""
    number = str(value).removeprefix("profile:")
    return re.sub(rf"(?<!\d){number}(?!\d)", "N", message)


def _error(client: Client, endpoint: str, kwargs: dict) -> str:
    with pytest.raises(Exception) as e:
        client.predict(**kwargs, api_name=endpoint)
    return str(e.value)


def test_bob_reaches_nothing_of_alices_through_any_id_taking_endpoint(alice, bob, alices, tmp_path):
    named = bob.view_api(return_format="dict", print_info=False)["named_endpoints"]
    checked = []
    for endpoint, spec in sorted(named.items()):
        params = spec["parameters"]
        names = [p["parameter_name"] for p in params]
        unknown = [n for n in names if (n.endswith("_id") or n == "voice" or n.endswith("_voice"))
                   and n not in ID_PARAMS and n not in NOT_IDS]
        assert not unknown, f"{endpoint} takes {unknown}: add it to ID_PARAMS so isolation is tested for it"
        for id_name in [n for n in names if n in ID_PARAMS]:
            # Required parameters get plausible values (and text always: speech needs words).
            base = {p["parameter_name"]: _filler(p["parameter_name"], p, tmp_path) for p in params
                    if (not p["parameter_has_default"] or p["parameter_name"] == "text")
                    and p["parameter_name"] not in ID_PARAMS}
            # Other id parameters keep their defaults (bob's own), or bob's "nothing" for required ones.
            for other in names:
                if other in ID_PARAMS and other != id_name and other not in base:
                    spec_other = next(p for p in params if p["parameter_name"] == other)
                    if not spec_other["parameter_has_default"]:
                        base[other] = ID_PARAMS[other]
            theirs = _error(bob, endpoint, {**base, id_name: alices[id_name]})
            nothing = _error(bob, endpoint, {**base, id_name: ID_PARAMS[id_name]})
            assert _masked(theirs, alices[id_name]) == _masked(nothing, ID_PARAMS[id_name]), (endpoint, id_name)
            assert re.search(r"there is no|not found", theirs), (endpoint, id_name, theirs)
            checked.append(f"{endpoint}({id_name})")
    assert len(checked) >= 22, checked
    # The endpoints of the contract are all among them.
    for must in ("/list_assets(project_id)", "/list_generations(project_id)", "/export_project(project_id)",
                 "/upload_media(project_id)", "/speak(voice)", "/add_voice_clips(voice)", "/mix(song_id)",
                 "/regenerate_sentence(generation_id)", "/talking_head(voice)", "/music_video(song_id)",
                 "/cancel(generation_id)"):
        assert must in checked, must
    # Bob's lists hold nothing of alice's, and alice's things are as they were.
    assert alices["project_id"] not in [p["id"] for p in bob.predict(api_name="/list_projects")]
    assert bob.predict(api_name="/list_voices")["profiles"] == []
    assert [v["voice"] for v in alice.predict(api_name="/list_voices")["profiles"]] == [alices["voice"]]
    listed = alice.predict(project_id=alices["project_id"], api_name="/list_assets")
    assert alices["asset_id"] in [a["id"] for a in listed]
    assert {g["kind"] for g in alice.predict(project_id=alices["project_id"], api_name="/list_generations")} \
        >= {"speak", "song"}


def test_bob_cannot_fetch_alices_file_by_its_url(app, alices, tmp_path_factory):
    alice_raw = client_for(app, "alice", tmp_path_factory, download_files=False)
    out = alice_raw.predict(project_id=alices["project_id"], api_name="/export_project")
    url = out["url"]
    assert "/dl-u" in url

    def fetch(user: str) -> httpx.Response:
        with httpx.Client() as c:
            if user:
                assert c.post(app.url + "login", data={"username": user, "password": USERS[user]}).status_code == 200
            return c.get(url)

    ok = fetch("alice")
    assert ok.status_code == 200 and ok.content[:2] == b"PK"
    theirs, missing = fetch("bob"), None
    with httpx.Client() as c:
        c.post(app.url + "login", data={"username": "bob", "password": USERS["bob"]})
        missing = c.get(url.replace(".zip", "-nothing.zip"))
    assert theirs.status_code == missing.status_code == 403
    assert theirs.json()["detail"].startswith("File not allowed")
    assert fetch("").status_code in (401, 403)

    # Nor by naming its server path as an input of his own call (API or UI event).
    forged = {"path": out["path"], "orig_name": "mine.zip", "meta": {"_type": "gradio.FileData"}}
    with httpx.Client() as c:
        c.post(app.url + "login", data={"username": "bob", "password": USERS["bob"]})
        r = c.post(app.url + "gradio_api/call/import_project", json={"data": [forged]})
        assert r.status_code == 403 and r.json()["detail"].startswith("File not allowed")
        r = c.post(app.url + "gradio_api/queue/join",
                   json={"data": [forged], "fn_index": 0, "session_hash": "bobsession", "event_data": None})
        assert r.status_code == 403


def test_a_shared_project_is_read_not_changed_and_gone_when_revoked(alice, bob, alices):
    from tests.conftest import SAMPLES

    pid = alices["project_id"]
    assert alice.predict(project_id=pid, username="bob", role="viewer", api_name="/share_project") == \
        {"project_id": pid, "user": "bob", "role": "viewer", "licence_warnings": []}
    (shared,) = [p for p in bob.predict(api_name="/list_projects") if p["id"] == pid]
    assert shared["shared"] == {"role": "viewer", "by": "alice"} and shared["name"] == "Alice's private project"
    assert [p["shared"] for p in alice.predict(api_name="/list_projects") if p["id"] == pid] == [None]
    assert len(bob.predict(project_id=pid, api_name="/list_assets")) >= 1
    assert bob.predict(project_id=pid, api_name="/list_generations")
    assert bob.predict(project_id=pid, api_name="/export_project").endswith(".zip")
    received = bob.predict(api_name="/list_shares")["received"]
    assert [(x["kind"], x["id"], x["owner"], x["role"]) for x in received] == [("project", pid, "alice", "viewer")]
    for kwargs, endpoint in (({"file": handle_file(str(SAMPLES / "portraits" / "art_1.png"))}, "/upload_media"),
                             ({"text": "Let me in."}, "/speak"),
                             ({"username": "carol", "role": "viewer"}, "/share_project")):
        with pytest.raises(Exception, match="shared with you as viewer"):
            bob.predict(project_id=pid, **kwargs, api_name=endpoint)

    assert alice.predict(project_id=pid, username="bob", api_name="/unshare_project")["revoked"] is True
    assert pid not in [p["id"] for p in bob.predict(api_name="/list_projects")]
    with pytest.raises(Exception, match=f"there is no project with id {pid}"):
        bob.predict(project_id=pid, api_name="/list_assets")


def test_a_shared_voice_speaks_for_bob_until_revoked(alice, bob, alices):
    voice = alices["voice"]
    alice.predict(voice=voice, username="bob", api_name="/share_voice")
    (listed,) = bob.predict(api_name="/list_voices")["profiles"]
    assert listed["voice"] == voice and listed["shared"] == {"role": "speak", "by": "alice"}
    assert listed["references"] == [] and listed["consent_by"] == "alice"
    assert bob.predict(text="Shared with me.", voice=voice, api_name="/speak").endswith(".wav")
    with pytest.raises(Exception, match="shared with you to speak with"):
        bob.predict(voice=voice, reference_audio=handle_file(str(voice_clips("librispeech-1998")[1])),
                    api_name="/add_voice_clips")
    alice.predict(voice=voice, username="bob", api_name="/unshare_voice")
    assert bob.predict(api_name="/list_voices")["profiles"] == []
    with pytest.raises(Exception, match="there is no voice profile"):
        bob.predict(text="Still mine?", voice=voice, api_name="/speak")


def test_requests_without_a_session_are_refused(app, bob):
    with pytest.raises(Exception, match="(?i)login|credentials|authenticat"):
        Client(app.url, verbose=False)
    named = bob.view_api(return_format="dict", print_info=False)["named_endpoints"]
    for endpoint in named:
        r = httpx.post(f"{app.url}gradio_api/call{endpoint}", json={"data": []}, timeout=10)
        assert r.status_code == 401, endpoint
    assert httpx.get(f"{app.url}gradio_api/info", timeout=10).status_code == 401
    assert httpx.post(f"{app.url}gradio_api/upload", files={"files": ("a.txt", b"x")}, timeout=10).status_code == 401


def test_twenty_failed_sign_ins_are_slowed_and_logged(app):
    """Runs last in this module: it holds up sign-ins from this address for a moment."""
    codes = []
    for i in range(20):
        r = httpx.post(app.url + "login", data={"username": "carol", "password": f"guess {i}"},
                       headers={"User-Agent": f"guesser/{i}"}, timeout=10)
        codes.append(r.status_code)
    # Four refusals as usual; from the fifth failure on, "try again in N s" (429), whether the attempt
    # was checked (when a wait had passed) or turned away unchecked.
    assert codes[:4] == [400] * 4 and codes[4:] == [429] * 16
    # The right password is refused too while a wait is in force. Guess on until the wait is several seconds
    # (it doubles with each guess checked after a wait), so the next request comes within it on any host.
    deadline = time.monotonic() + 60
    while True:
        r = httpx.post(app.url + "login", data={"username": "carol", "password": "guess again"}, timeout=10)
        assert r.status_code == 429
        if int(r.headers["Retry-After"]) >= 4 or time.monotonic() > deadline:
            break
    right = httpx.post(app.url + "login", data={"username": "carol", "password": USERS["carol"]}, timeout=10)
    assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1
    assert "try again in" in right.json()["detail"]
    time.sleep(int(right.headers["Retry-After"]) + 0.2)
    assert httpx.post(app.url + "login", data={"username": "carol", "password": USERS["carol"]},
                      timeout=10).status_code == 200

    with sqlite3.connect(app.data_dir / "studio.db") as db:
        rows = db.execute("SELECT type, ip, user_agent FROM securityevent WHERE username = 'carol' "
                          "ORDER BY id").fetchall()
    guesses = rows[:20]
    assert [t for t, _, _ in guesses[:5]] == ["login_failed"] * 5
    # The waits double (1, 2, 4 ... s), so few of the other fifteen were checked at all.
    assert {t for t, _, _ in guesses[5:]} <= {"login_failed", "login_throttled"}
    assert sum(t == "login_throttled" for t, _, _ in guesses) >= 10
    assert [(ip, ua) for _, ip, ua in guesses] == [("127.0.0.1", f"guesser/{i}") for i in range(20)]
    assert rows[-1][0] == "login_ok"


def test_the_admin_sees_the_failed_sign_ins_and_manages_accounts(app, alice, bob):
    """After the failed sign-ins above: the first AUTH user (alice) is the admin."""
    failed = alice.predict(type="login", username="carol", limit=100, api_name="/security_events")
    guesses = [e for e in failed if e["user_agent"].startswith("guesser/")]
    assert len(guesses) == 20 and {e["ip"] for e in guesses} == {"127.0.0.1"}
    assert {e["type"] for e in guesses} <= {"login_failed", "login_throttled"}
    with pytest.raises(Exception, match="only an admin"):
        bob.predict(api_name="/security_events")
    with pytest.raises(Exception, match="only an admin"):
        bob.predict(username="alice", api_name="/set_user_disabled")
    users = {u["username"]: u for u in alice.predict(api_name="/list_users")}
    assert users["alice"]["is_admin"] and users["alice"]["stored_bytes"] > 0 and not users["bob"]["is_admin"]

    browser = httpx.Client()
    browser.post(app.url + "login", data={"username": "bob", "password": USERS["bob"]})
    assert browser.get(app.url + "gradio_api/info").status_code == 200
    assert alice.predict(username="bob", disabled=True, api_name="/set_user_disabled")["disabled"] is True
    time.sleep(2.5)  # the middleware reads the disabled accounts every 2 s
    assert browser.get(app.url + "gradio_api/info").status_code == 401  # his open sessions end
    with pytest.raises(Exception):  # noqa: B017
        bob.predict(api_name="/list_projects")
    with pytest.raises(Exception, match="(?i)login|credentials"):
        Client(app.url, auth=("bob", USERS["bob"]), verbose=False)  # and he cannot sign in again
    alice.predict(username="bob", disabled=False, api_name="/set_user_disabled")
    again = Client(app.url, auth=("bob", USERS["bob"]), verbose=False)
    assert isinstance(again.predict(api_name="/list_projects"), list)
    types = [e["type"] for e in alice.predict(type="user_", api_name="/security_events")]
    assert types[:2] == ["user_enabled", "user_disabled"]

    assert alice.predict(username="dave", password="dave-password", api_name="/create_user") == \
        {"user": "dave", "is_admin": False}
    with pytest.raises(Exception, match="too short"):
        alice.predict(username="erin", password="short", api_name="/create_user")
    with pytest.raises(Exception, match="only an admin"):
        again.predict(username="mallory", password="a long password", api_name="/create_user")
    dave = Client(app.url, auth=("dave", "dave-password"), verbose=False)
    assert dave.predict(api_name="/list_projects") == []
