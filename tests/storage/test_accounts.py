"""Accounts, sign-in with its slow-down, per-user isolation and the adoption of an earlier
single-user database: on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from sqlalchemy import text
from sqlmodel import select

from core.errors import InputError
from storage import archive
from storage.accounts import (
    LOCAL_USERNAME,
    Accounts,
    LoginThrottle,
    NotSignedIn,
    hash_password,
    verify_password,
)
from storage.library import Actor, NotFound
from storage.models import Asset, Generation, Project, SecurityEvent, User, VoiceProfile


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def accounts(library):
    return Accounts(library, LoginThrottle(clock=Clock()))


def events(library, type_: str | None = None) -> list[SecurityEvent]:
    return [e for e in reversed(library.security_events(1000)) if type_ is None or e.type == type_]


def as_actor(u: User) -> Actor:
    return Actor(u.id, u.username)


def test_passwords_are_salted_scrypt_hashes_with_their_parameters():
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and a.startswith("scrypt$16384$8$1$") and "correct" not in a
    assert verify_password("correct horse", a) and verify_password("correct horse", b)
    assert not verify_password("correct hors", a)
    assert not verify_password("correct horse", a[:-4] + "AAA=")  # a damaged hash never matches
    assert not verify_password("x", "") and not verify_password("x", "md5$abc")


def test_create_list_disable_users(accounts):
    u = accounts.create_user("alice", "long enough", is_admin=True)
    assert u.password_hash and u.is_admin and not u.disabled
    with pytest.raises(InputError, match="already a user called 'Alice'"):
        accounts.create_user("Alice", "long enough")
    with pytest.raises(InputError, match="too short"):
        accounts.create_user("bob", "short")
    with pytest.raises(InputError, match="reserved"):
        accounts.create_user(LOCAL_USERNAME, "long enough")
    with pytest.raises(InputError, match="user name is 1 to 80"):
        accounts.create_user("bob smith", "long enough")
    accounts.create_user("bob", "another one")
    assert [x.username for x in accounts.list_users()] == [LOCAL_USERNAME, "alice", "bob"]  # local: sign-in off
    assert accounts.set_disabled("bob").disabled
    assert not accounts.sign_in("bob", "another one").ok
    assert accounts.set_disabled("bob", False).disabled is False
    assert accounts.sign_in("bob", "another one").ok
    with pytest.raises(InputError, match="no user called 'carol'"):
        accounts.set_disabled("carol")


def test_auth_pairs_are_seeded_and_the_first_is_admin_when_there_is_none(accounts):
    alice, bob = accounts.seed([("alice", "pw1"), ("bob", "pw2")])
    assert alice.is_admin and not bob.is_admin
    assert accounts.sign_in("alice", "pw1").ok and accounts.sign_in("bob", "pw2").ok
    # A later start with a changed password: the account keeps its id and takes the new password.
    (bob2,) = accounts.seed([("bob", "new-pw")])
    assert bob2.id == bob.id and not bob2.is_admin
    assert accounts.sign_in("bob", "new-pw").ok and not accounts.sign_in("bob", "pw2").ok
    assert accounts.first_admin().username == "alice"


def test_sign_in_is_logged_with_address_and_user_agent(accounts, library):
    accounts.create_user("alice", "long enough")
    assert accounts.sign_in("alice", "long enough", ip="10.1.2.3", user_agent="Firefox/140").ok
    r = accounts.sign_in("alice", "wrong", ip="10.1.2.4", user_agent="curl/8")
    assert not r.ok and r.wait_s == 0
    assert not accounts.sign_in("nobody", "whatever", ip="10.1.2.5").ok
    got = [(e.type, e.username, e.ip, e.user_agent, e.detail.get("reason")) for e in events(library)]
    assert got == [("login_ok", "alice", "10.1.2.3", "Firefox/140", None),
                   ("login_failed", "alice", "10.1.2.4", "curl/8", "wrong user name or password"),
                   ("login_failed", "nobody", "10.1.2.5", "", "wrong user name or password")]
    assert events(library)[0].user_id == events(library)[1].user_id is not None


def test_twenty_failed_sign_ins_are_slowed_down_and_logged(library):
    clock = Clock()
    accounts = Accounts(library, LoginThrottle(free_failures=5, max_wait_s=300, clock=clock))
    accounts.create_user("alice", "long enough")
    results = [accounts.sign_in("alice", f"guess {i}", ip="203.0.113.9", user_agent="bot/1") for i in range(20)]
    assert not any(r.ok for r in results)
    # Five guesses are checked; then every attempt must wait, so the other fifteen are refused unchecked.
    assert [r.wait_s > 0 for r in results] == [False] * 4 + [True] * 16
    assert len(events(library, "login_failed")) == 5 and len(events(library, "login_throttled")) == 15
    assert {(e.ip, e.user_agent) for e in events(library)} == {("203.0.113.9", "bot/1")}
    # While waiting, even the right password is refused; then each further failure doubles the wait.
    assert accounts.sign_in("alice", "long enough", ip="198.51.100.1").wait_s == pytest.approx(1)
    clock.t += 1.01
    assert accounts.sign_in("alice", "guess 21").wait_s == pytest.approx(2)
    clock.t += 2.01
    assert accounts.sign_in("alice", "guess 22").wait_s == pytest.approx(4)
    clock.t += 4.01
    ok = accounts.sign_in("alice", "long enough", ip="198.51.100.1")
    assert ok.ok and ok.user.username == "alice"
    assert accounts.sign_in("alice", "guess 23").wait_s == 0  # a right password starts the count again


def test_one_address_trying_many_names_is_slowed_down(library):
    clock = Clock()
    accounts = Accounts(library, LoginThrottle(free_failures=5, free_failures_per_ip=20, clock=clock))
    accounts.create_user("zed", "long enough")
    waits = [accounts.sign_in(f"user{i}", "pw", ip="203.0.113.7").wait_s for i in range(21)]
    assert waits[:19] == [0] * 19 and all(w > 0 for w in waits[19:])
    assert accounts.sign_in("zed", "long enough", ip="203.0.113.7").wait_s > 0
    assert accounts.sign_in("zed", "long enough", ip="203.0.113.8").ok  # another address is not held up


def test_the_acting_user(accounts):
    alice = accounts.create_user("alice", "long enough")
    assert accounts.actor("alice", signed_in=True, ip="1.2.3.4").user_id == alice.id
    for name in (None, "", "nobody", LOCAL_USERNAME):
        with pytest.raises(NotSignedIn, match="sign in first"):
            accounts.actor(name, signed_in=True)
    accounts.set_disabled("alice")
    with pytest.raises(NotSignedIn):
        accounts.actor("alice", signed_in=True)  # a disabled account's open sessions end
    local = accounts.actor(None, signed_in=False)
    assert local.username == LOCAL_USERNAME and local.user_id == accounts.actor("x", signed_in=False).user_id


def _alices_things(services, samples):
    """A project with an asset and a generation, and a voice profile, all alice's."""
    from storage.jobs import JobOutput, JobResult
    from storage.models import MediaKind
    from storage.voices import VoiceProfiles

    accounts = services.accounts
    alice = as_actor(accounts.create_user("alice", "long enough"))
    bob = as_actor(accounts.create_user("bob", "long enough"))
    lib = services.library
    p = lib.create_project("Alice's", alice)
    photo = lib.add_upload(p.id, samples / "portraits" / "art_0.png", "me.png", alice)

    def work(ctx):
        out = ctx.workdir / "note.txt"
        out.write_text("made", encoding="utf-8")
        return JobResult([JobOutput(out, MediaKind.text, "note.txt")])

    g = services.jobs.run(kind="speak", params={}, work=work, project_id=p.id, inputs=[photo.id], actor=alice)
    with lib.session() as s:
        v = VoiceProfile(name="Alice's voice", owner_id=alice.user_id)
        s.add(v)
        s.commit()
        s.refresh(v)
    return alice, bob, p, photo, g.generation, v, VoiceProfiles(lib)


def test_another_users_ids_answer_like_ids_that_do_not_exist(services, samples, tmp_path):
    alice, bob, p, photo, g, v, profiles = _alices_things(services, samples)
    lib, missing = services.library, 10**7

    def same_refusal(call, real_id) -> None:
        with pytest.raises(NotFound) as theirs:
            call(real_id)
        with pytest.raises(NotFound) as nothing:
            call(missing)
        assert str(theirs.value).replace(str(real_id), "N") == str(nothing.value).replace(str(missing), "N")

    for call, real in [
        (lambda i: lib.get_project(i, bob), p.id),
        (lambda i: lib.list_assets(i, bob), p.id),
        (lambda i: lib.list_generations(i, bob), p.id),
        (lambda i: lib.rename_project(i, "Mine now", bob), p.id),
        (lambda i: lib.delete_project(i, bob), p.id),
        (lambda i: archive.export_project(lib, i, tmp_path, bob), p.id),
        (lambda i: lib.add_upload(i, samples / "portraits" / "art_1.png", "x.png", bob), p.id),
        (lambda i: lib.project_or_default(i, bob), p.id),
        (lambda i: lib.get_asset(i, bob), photo.id),
        (lambda i: lib.delete_asset(i, bob), photo.id),
        (lambda i: lib.get_generation(i, None, bob), g.id),
        (lambda i: profiles.get(i, bob), v.id),
        (lambda i: profiles.get(f"profile:{i}", bob), v.id),
        (lambda i: profiles.rename(i, "Stolen", bob), v.id),
        (lambda i: profiles.delete(i, bob), v.id),
    ]:
        same_refusal(call, real)
    with pytest.raises(NotFound):
        profiles.get("Alice's voice", bob)  # by name too
    with pytest.raises(NotFound):
        services.jobs.run(kind="speak", params={}, work=lambda ctx: None, project_id=p.id, actor=bob)
    assert lib.list_projects(bob) == [] and profiles.list(bob) == []
    # Nothing of alice's changed, and she still sees all of it.
    assert [x.name for x, _ in lib.list_projects(alice)] == ["Alice's"]
    # (the job's text came with its Content Credentials sidecar)
    assert [a.name for a in lib.list_assets(p.id, alice)] == ["me.png", "note.txt", "note.txt.c2pa"]
    assert [x.name for x in profiles.list(alice)] == ["Alice's voice"]
    assert lib.get_generation(g.id, None, alice)[0].id == g.id


def test_each_user_has_their_own_unsorted_project_and_voice_names(services):
    from storage.voices import VoiceProfiles

    accounts, lib = services.accounts, services.library
    alice = as_actor(accounts.create_user("alice", "long enough"))
    bob = as_actor(accounts.create_user("bob", "long enough"))
    pa, pb = lib.default_project(alice), lib.default_project(bob)
    assert pa.id != pb.id and lib.default_project(alice).id == pa.id
    with lib.session() as s:
        s.add(VoiceProfile(name="Narrator", owner_id=alice.user_id))
        s.add(VoiceProfile(name="Narrator", owner_id=bob.user_id))
        s.commit()
    profiles = VoiceProfiles(lib)
    assert profiles.get("Narrator", bob).owner_id == bob.user_id  # bob's own, not alice's older one
    assert profiles.get("Narrator", alice).owner_id == alice.user_id


def _previous_release_database(url: str, samples) -> None:
    """A database as the previous release left it: no `user.disabled` column nor the consent record of
    voice profiles, rows without owners."""
    from storage.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text('ALTER TABLE "user" DROP COLUMN disabled'))
        conn.execute(text("ALTER TABLE voiceprofile DROP COLUMN consent_method"))
        conn.execute(text("ALTER TABLE voiceprofile DROP COLUMN consent"))
        conn.execute(text("INSERT INTO project (name, created_at, updated_at) VALUES ('Old work', "
                          "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        pid = conn.execute(text("SELECT id FROM project")).scalar()
        conn.execute(text("INSERT INTO generation (project_id, kind, params, status, progress, progress_message, "
                          "error, backend, model, model_licence, metrics, created_at) VALUES "
                          f"({pid}, 'speak', '{{}}', 'succeeded', 1, '', '', '', '', '', '{{}}', CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO voiceprofile (name, engine, base_voice, stats, embedding, consent_by, "
                          "created_at, updated_at) VALUES ('Old voice', 'embedded', '', '{}', '[]', 'anonymous', "
                          "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    engine.dispose()


def _owners(lib) -> set:
    with lib.session() as s:
        return {row.owner_id for table in (Project, Asset, Generation, VoiceProfile) for row in s.exec(select(table))}


def test_the_first_admin_adopts_a_previous_release_database(settings, db_url, samples):
    from services import build_services

    _previous_release_database(db_url, samples)
    svc = build_services(replace(settings, database_url=db_url, auth="alice:pw1,bob:pw2"))
    try:
        assert svc.sign_in
        alice = svc.accounts.get("alice")
        assert alice.is_admin and alice.disabled is False  # the new column is there, with its default
        assert _owners(svc.library) == {alice.id}
        [(p, _)] = svc.library.list_projects(as_actor(alice))
        assert p.name == "Old work" and svc.library.list_generations(p.id, as_actor(alice))
        assert svc.library.list_projects(as_actor(svc.accounts.get("bob"))) == []
        (adopted,) = events(svc.library, "data_adopted")
        assert adopted.username == "alice" and adopted.detail["project"] == 1
    finally:
        svc.library.engine.dispose()


def test_local_single_user_data_goes_to_the_first_admin_when_sign_in_is_turned_on(settings, db_url, samples):
    from services import build_services

    _previous_release_database(db_url, samples)
    svc = build_services(replace(settings, database_url=db_url))
    local = svc.accounts.local_user()
    assert not svc.sign_in and _owners(svc.library) == {local.id}
    svc.library.create_project("Made while single-user", as_actor(local))
    svc.library.engine.dispose()

    svc = build_services(replace(settings, database_url=db_url, auth="alice:pw1"))
    try:
        alice = as_actor(svc.accounts.get("alice"))
        assert svc.sign_in and _owners(svc.library) == {alice.user_id}
        assert sorted(p.name for p, _ in svc.library.list_projects(alice)) == ["Made while single-user", "Old work"]
    finally:
        svc.library.engine.dispose()


def test_sign_in_modes(settings, db_url):
    from services import build_services

    for kw, on in (({}, False), ({"auth": "alice:pw1"}, True), ({"sign_in": "off"}, False)):
        svc = build_services(replace(settings, database_url=db_url, **kw))
        assert svc.sign_in is on, kw
        svc.library.engine.dispose()
    # alice exists now, so "auto" stays on without AUTH.
    svc = build_services(replace(settings, database_url=db_url))
    assert svc.sign_in
    svc.library.engine.dispose()
    with pytest.raises(SystemExit, match="users add"):
        build_services(replace(settings, database_url=f"sqlite:///{settings.data_dir}/empty.db", sign_in="accounts"))


def test_users_command_line(settings, db_url, capsys):
    from users_cli import main

    env = {"DATA_DIR": str(settings.data_dir), "DATABASE_URL": db_url}
    assert main(["add", "carol"], env, stdin=io.StringIO("a good password\n")) == 0
    assert main(["add", "dave"], env, stdin=io.StringIO("another password\n")) == 0
    assert main(["add", "erin"], env, stdin=io.StringIO("short\n")) == 2
    assert "too short" in capsys.readouterr().err
    assert main(["disable", "dave"], env) == 0
    out = io.StringIO()
    assert main(["list"], env, out=out) == 0
    lines = out.getvalue().splitlines()
    assert "carol" in lines[0] and "admin" in lines[0]  # the first account is an admin
    assert "dave" in lines[1] and "disabled" in lines[1] and "admin" not in lines[1]
    from services import build_services

    svc = build_services(replace(settings, database_url=db_url))
    try:
        assert svc.sign_in and svc.accounts.sign_in("carol", "a good password").ok
        assert not svc.accounts.sign_in("dave", "another password").ok
        assert [e.username for e in events(svc.library, "user_created")] == ["(command line)"] * 2
    finally:
        svc.library.engine.dispose()


def test_storage_quota_refuses_clearly_and_stores_nothing(services, samples):
    from storage.library import QuotaExceeded

    lib = services.library
    alice = as_actor(services.accounts.create_user("alice", "long enough"))
    p = lib.create_project("Quota", alice)
    photo = samples / "portraits" / "art_0.png"
    first = lib.add_upload(p.id, photo, "one.png", alice)
    lib.limits = replace(lib.limits, max_user_bytes=first.size_bytes + first.size_bytes // 2)
    assert lib.stored_bytes(alice.user_id) == first.size_bytes
    with pytest.raises(QuotaExceeded, match=r"your storage is full: .* MB of your \d+ MB are used and this needs"):
        lib.add_upload(p.id, samples / "portraits" / "art_1.png", "two.png", alice)
    assert [a.name for a in lib.list_assets(p.id, alice)] == ["one.png"]
    lib.limits = replace(lib.limits, max_user_bytes=first.size_bytes)
    with pytest.raises(QuotaExceeded, match="delete files, projects or voice profiles"):
        services.jobs.run(kind="speak", params={}, work=lambda ctx: None, project_id=p.id, actor=alice)
    lib.delete_asset(first.id, alice)  # deleting makes room again
    assert lib.stored_bytes(alice.user_id) == 0
    lib.add_upload(p.id, photo, "again.png", alice)
    lib.add_upload(lib.create_project("Nobody's").id, photo, "x.png")  # no account, no quota


def test_one_user_runs_at_most_max_jobs_at_once(services):
    import threading

    from storage.jobs import JobResult, JobRunner
    from storage.library import QuotaExceeded

    jobs = JobRunner(services.library, max_jobs_per_user=1)
    alice = as_actor(services.accounts.create_user("alice", "long enough"))
    bob = as_actor(services.accounts.create_user("bob", "long enough"))
    started, release = threading.Event(), threading.Event()

    def slow(ctx):
        started.set()
        release.wait(30)
        return JobResult()

    t = threading.Thread(target=jobs.run, kwargs={"kind": "slow", "params": {}, "work": slow, "actor": alice})
    t.start()
    assert started.wait(30)
    try:
        with pytest.raises(QuotaExceeded, match="already have 1 jobs running"):
            jobs.run(kind="quick", params={}, work=lambda ctx: JobResult(), actor=alice)
        jobs.run(kind="quick", params={}, work=lambda ctx: JobResult(), actor=bob)  # others are not held up
    finally:
        release.set()
        t.join(30)
    jobs.run(kind="quick", params={}, work=lambda ctx: JobResult(), actor=alice)
    kinds = [g["kind"] for g in services.library.list_generations(services.library.default_project(alice).id,
                                                                   alice)]
    assert kinds == ["quick", "slow"]  # the refused one was never recorded


def test_security_log_filters_and_expires(accounts, library):
    from datetime import timedelta

    from storage.models import utcnow

    accounts.create_user("alice", "long enough")
    accounts.sign_in("alice", "wrong", ip="10.0.0.9", user_agent="ua/1")
    accounts.sign_in("alice", "long enough", ip="10.0.0.9", user_agent="ua/2")
    with library.session() as s:
        s.add(SecurityEvent(type="login_failed", username="old", created_at=utcnow() - timedelta(days=100)))
        s.commit()
    assert [e.type for e in library.security_events(type_="login", username="alice")] == ["login_ok", "login_failed"]
    assert [e.username for e in library.security_events(type_="login_failed")] == ["alice", "old"]
    assert library.expire_events(90) == 1 and library.expire_events(0) == 0
    assert [e.username for e in library.security_events(type_="login_failed")] == ["alice"]


def test_admins_and_what_each_account_keeps(services, samples):
    from storage.library import Forbidden

    accounts, lib = services.accounts, services.library
    alice = as_actor(accounts.create_user("alice", "long enough", is_admin=True))
    bob = as_actor(accounts.create_user("bob", "long enough"))
    a = lib.add_upload(lib.create_project("A", alice).id, samples / "portraits" / "art_0.png", "a.png", alice)
    assert accounts.require_admin(alice).username == "alice"
    for who in (bob, Actor(), Actor(alice.user_id, "bob")):
        with pytest.raises(Forbidden, match="only an admin"):
            accounts.require_admin(who)
    usage = {u["username"]: u for u in accounts.usage()}
    assert (usage["alice"]["projects"], usage["alice"]["stored_bytes"], usage["alice"]["is_admin"]) == \
        (1, a.size_bytes, True)
    assert (usage["bob"]["projects"], usage["bob"]["stored_bytes"]) == (0, 0)


@pytest.mark.parametrize("auth, message", [("local:pw", "reserved"), ("bad name:pw", "user name is 1 to 80")])
def test_unusable_auth_pairs_stop_the_start_with_a_clear_message(settings, auth, message):
    from services import build_services

    with pytest.raises(SystemExit, match=f"AUTH: .*{message}"):
        build_services(replace(settings, auth=auth))


# ------------------------------------------------------------------ Hugging Face accounts


def test_a_hugging_face_user_gets_an_account_on_first_sign_in_kept_across_renames(accounts, library):
    from storage.accounts import HFProfile

    r = accounts.hf_sign_in(HFProfile("sub-ada", "ada", "Ada Lovelace"), ip="10.0.0.7", user_agent="Firefox/140")
    ada = r.user
    assert r.ok and (ada.username, ada.hf_sub, ada.hf_username, ada.display_name) == \
        ("ada", "sub-ada", "ada", "Ada Lovelace")
    assert ada.password_hash == "" and not ada.is_admin and not ada.disabled
    assert not accounts.sign_in("ada", "").ok  # no password sign-in for her
    assert accounts.actor("ada", signed_in=True).user_id == ada.id
    # Signing in again finds the same account; renamed on Hugging Face, she keeps it under her new name.
    assert accounts.hf_sign_in(HFProfile("sub-ada", "ada", "Ada Lovelace")).user.id == ada.id
    renamed = accounts.hf_sign_in(HFProfile("sub-ada", "ada-l", "Ada L."), ip="10.0.0.8").user
    assert (renamed.id, renamed.username, renamed.hf_username, renamed.display_name) == \
        (ada.id, "ada-l", "ada-l", "Ada L.")
    assert accounts.get("ada") is None
    got = [(e.type, e.username, e.ip, e.user_agent, e.detail) for e in events(library)]
    assert got == [
        ("user_created", "ada", "10.0.0.7", "Firefox/140", {"via": "huggingface", "hf_username": "ada"}),
        ("login_ok", "ada", "10.0.0.7", "Firefox/140", {"via": "huggingface", "hf_username": "ada"}),
        ("login_failed", "ada", "", "", {"reason": "wrong user name or password"}),
        ("login_ok", "ada", "", "", {"via": "huggingface", "hf_username": "ada"}),
        ("user_renamed", "ada-l", "10.0.0.8", "", {"from": "ada", "to": "ada-l", "hf_username": "ada-l"}),
        ("login_ok", "ada-l", "10.0.0.8", "", {"via": "huggingface", "hf_username": "ada-l"}),
    ]
    assert {e.user_id for e in events(library) if e.type != "login_failed"} == {ada.id}


def test_a_hugging_face_name_another_account_has_becomes_name_at_hf(accounts):
    from storage.accounts import HFProfile

    bob = accounts.create_user("bob", "bob's password")
    hf_bob = accounts.hf_sign_in(HFProfile("sub-bob", "bob")).user
    other = accounts.hf_sign_in(HFProfile("sub-other", "Bob")).user  # names are case-insensitive
    local = accounts.hf_sign_in(HFProfile("sub-local", "local")).user
    assert (hf_bob.username, other.username, local.username) == ("bob@hf", "Bob@hf2", "local@hf")
    assert len({bob.id, hf_bob.id, other.id, local.id}) == 4
    # The password account is untouched and still signs in; the Hugging Face one has no password.
    assert accounts.sign_in("bob", "bob's password").user.id == bob.id
    assert not accounts.sign_in("bob@hf", "").ok
    # A rename to a name that is free takes it.
    assert accounts.hf_sign_in(HFProfile("sub-bob", "robert")).user.username == "robert"


def test_admin_users_make_hugging_face_admins_and_the_first_adopts_unowned_data(accounts, library):
    from storage.accounts import HFProfile

    old = library.create_project("Made before accounts")  # no owner
    bob = accounts.hf_sign_in(HFProfile("sub-bob", "bob"), admin_names={"ada"}).user
    assert not bob.is_admin and accounts.first_admin("huggingface") is None
    assert library.list_projects(as_actor(bob)) == []  # the first to sign in gets nothing for it
    ada = accounts.hf_sign_in(HFProfile("sub-ada", "Ada"), admin_names={"ada"}).user
    assert ada.is_admin and accounts.first_admin("huggingface").id == ada.id
    assert accounts.first_admin() is None  # no admin signs in with a password
    assert accounts.require_admin(as_actor(ada)).id == ada.id
    assert [p.id for p, _ in library.list_projects(as_actor(ada))] == [old.id]
    (adopted,) = events(library, "data_adopted")
    assert adopted.username == "Ada" and adopted.detail["project"] == 1
    assert [e.detail for e in events(library, "admin_granted")] == [{"by": "ADMIN_USERS"}]
    # Taken off the list: no longer admin at the next start, nor at the next sign-in.
    assert accounts.sync_hf_admins({"bob"}) == ["bob", "Ada"]
    assert accounts.sync_hf_admins({"bob"}) == []
    assert accounts.get("bob").is_admin and not accounts.get("Ada").is_admin
    with pytest.raises(Exception, match="only an admin"):
        accounts.require_admin(as_actor(ada))
    assert accounts.hf_sign_in(HFProfile("sub-bob", "bob"), admin_names=set()).user.is_admin is False
    assert [(e.type, e.username) for e in events(library) if e.type.startswith("admin_")] == \
        [("admin_granted", "Ada"), ("admin_granted", "bob"), ("admin_revoked", "Ada"), ("admin_revoked", "bob")]


def test_a_disabled_hugging_face_account_is_refused_and_its_sessions_end(accounts, library):
    from datetime import UTC, datetime

    from storage.accounts import HFProfile

    ada = accounts.hf_sign_in(HFProfile("sub-ada", "ada")).user
    began = datetime.now(UTC)
    assert accounts.hf_session_user("sub-ada", began).id == ada.id
    assert accounts.hf_session_user("sub-nobody", began) is None and accounts.hf_session_user("", began) is None
    accounts.set_disabled("ada")
    assert accounts.hf_session_user("sub-ada", began) is None
    refused = accounts.hf_sign_in(HFProfile("sub-ada", "ada"), ip="10.0.0.9", user_agent="Firefox/140")
    assert not refused.ok and refused.user.id == ada.id
    last = events(library)[-1]
    assert (last.type, last.username, last.ip, last.user_agent, last.detail["reason"]) == \
        ("login_failed", "ada", "10.0.0.9", "Firefox/140", "disabled")
    # Enabled again, the session from before stays ended; a new sign-in works.
    accounts.set_disabled("ada", False)
    assert accounts.hf_session_user("sub-ada", began) is None
    assert accounts.hf_sign_in(HFProfile("sub-ada", "ada")).ok
    assert accounts.hf_session_user("sub-ada", datetime.now(UTC)).id == ada.id


def test_an_older_database_gets_the_hugging_face_columns(settings, db_url):
    from sqlalchemy.exc import IntegrityError

    from storage.db import make_engine

    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_user_hf_sub"))
        for column in ("hf_sub", "hf_username", "sessions_ended_at"):
            conn.execute(text(f'ALTER TABLE "user" DROP COLUMN {column}'))
        conn.execute(text("""INSERT INTO "user" (username, display_name, password_hash, is_admin, disabled,
                             created_at) VALUES ('old', 'old', '', FALSE, FALSE, CURRENT_TIMESTAMP)"""))
    engine.dispose()
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            row = conn.execute(text('SELECT hf_sub, hf_username, sessions_ended_at FROM "user"')).one()
            assert tuple(row) == (None, "", None)
            conn.execute(text("""UPDATE "user" SET hf_sub = 'sub-1' WHERE username = 'old'"""))
        with pytest.raises(IntegrityError), engine.begin() as conn:  # one account per Hugging Face user
            conn.execute(text("""INSERT INTO "user" (username, display_name, password_hash, is_admin, disabled,
                                 created_at, hf_sub, hf_username) VALUES ('new', 'new', '', FALSE, FALSE,
                                 CURRENT_TIMESTAMP, 'sub-1', '')"""))
    finally:
        engine.dispose()


def test_hugging_face_sign_in_at_start(settings, db_url):
    from services import build_services
    from storage.accounts import HFProfile

    space = replace(settings, database_url=db_url, space_id="someone/studio", oauth_missing=(), admin_users="ada")
    svc = build_services(space)
    try:
        assert svc.sign_in and svc.sign_in_mode == "huggingface"  # auto, in a Space with OAuth
        assert svc.accounts.hf_sign_in(HFProfile("sub-ada", "ada"), svc.settings.admin_names).user.is_admin
    finally:
        svc.library.engine.dispose()
    svc = build_services(replace(space, admin_users="someone-else"))
    try:
        assert not svc.accounts.get("ada").is_admin  # off the list: no longer admin from the start
    finally:
        svc.library.engine.dispose()
    from users_cli import main

    out = io.StringIO()
    assert main(["list"], {"DATA_DIR": str(settings.data_dir), "DATABASE_URL": db_url}, out=out) == 0
    (line,) = [x for x in out.getvalue().splitlines() if " ada " in x]
    assert line.rstrip().endswith("Hugging Face: ada")
    with pytest.raises(SystemExit, match="SIGN_IN=huggingface works only in a Hugging Face Space"):
        build_services(replace(settings, database_url=db_url, sign_in="huggingface"))
