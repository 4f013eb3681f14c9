"""Sharing projects (viewer, editor) and voices (speak with), and revoking: on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import select

from core.errors import InputError
from storage import archive
from storage.library import Actor, Forbidden, NotFound
from storage.models import Share, VoiceProfile
from storage.voices import profile_json


def people(services) -> tuple[Actor, Actor, Actor]:
    out = []
    for name in ("alice", "bob", "carol"):
        u = services.accounts.create_user(name, "long enough")
        out.append(Actor(u.id, u.username, "10.0.0.1", "pytest"))
    return tuple(out)


def job(services, project_id, actor):
    from storage.jobs import JobOutput, JobResult
    from storage.models import MediaKind

    def work(ctx):
        out = ctx.workdir / "note.txt"
        out.write_text("made", encoding="utf-8")
        return JobResult([JobOutput(out, MediaKind.text, "note.txt")])

    return services.jobs.run(kind="speak", params={}, work=work, project_id=project_id, actor=actor)


def test_a_viewer_reads_but_cannot_change_and_loses_it_on_revoke(services, samples, tmp_path):
    alice, bob, carol = people(services)
    lib, sharing = services.library, services.sharing
    p = lib.create_project("Alice's film", alice)
    photo = lib.add_upload(p.id, samples / "portraits" / "art_0.png", "me.png", alice)
    g = job(services, p.id, alice).generation

    sharing.share_project(p.id, "bob", "viewer", alice)
    assert [x.id for x, _ in lib.list_projects(bob)] == [p.id]
    assert lib.shared_with(bob) == {p.id: ("viewer", "alice")} and lib.shared_with(alice) == {}
    assert [a.id for a in lib.list_assets(p.id, bob)] == [a.id for a in lib.list_assets(p.id, alice)]
    assert lib.get_asset(photo.id, bob).id == photo.id and lib.get_generation(g.id, None, bob)[0].id == g.id
    assert [x["id"] for x in lib.list_generations(p.id, bob)] == [g.id]
    assert archive.export_project(lib, p.id, tmp_path, bob).exists()
    for change in (
        lambda: lib.add_upload(p.id, samples / "portraits" / "art_1.png", "x.png", bob),
        lambda: lib.delete_asset(photo.id, bob),
        lambda: lib.rename_project(p.id, "Mine", bob),
        lambda: lib.delete_project(p.id, bob),
        lambda: job(services, p.id, bob),
        lambda: sharing.share_project(p.id, "carol", "viewer", bob),
    ):
        with pytest.raises(Forbidden, match="shared with you as viewer"):
            change()
    assert lib.list_projects(carol) == []  # nobody else sees it

    assert sharing.unshare_project(p.id, "bob", alice) is True
    assert sharing.unshare_project(p.id, "bob", alice) is False
    assert lib.list_projects(bob) == []
    with pytest.raises(NotFound, match=f"^there is no project with id {p.id}$"):
        lib.list_assets(p.id, bob)
    with pytest.raises(NotFound, match=f"^there is no asset with id {photo.id}$"):
        lib.get_asset(photo.id, bob)
    kinds = [(e.type, e.detail.get("to"), e.detail.get("role")) for e in reversed(lib.security_events())
             if e.type.startswith("share")]
    assert kinds == [("share_granted", "bob", "viewer"), ("share_revoked", "bob", None)]


def test_an_editor_adds_and_generates_but_only_the_owner_renames_deletes_or_shares(services, samples):
    alice, bob, _ = people(services)
    lib, sharing = services.library, services.sharing
    p = lib.create_project("Together", alice)
    sharing.share_project(p.id, "bob", "viewer", alice)
    sharing.share_project(p.id, "bob", "editor", alice)  # sharing again changes the role
    assert lib.shared_with(bob) == {p.id: ("editor", "alice")}
    added = lib.add_upload(p.id, samples / "portraits" / "art_1.png", "bob.png", bob)
    made = job(services, p.id, bob)
    assert made.generation.project_id == p.id
    lib.delete_asset(added.id, bob)
    for change, what in ((lambda: lib.rename_project(p.id, "Bob's", bob), "rename"),
                         (lambda: lib.delete_project(p.id, bob), "delete"),
                         (lambda: sharing.share_project(p.id, "carol", "viewer", bob), "share")):
        with pytest.raises(Forbidden, match=f"as editor: you may not .*{what}"):
            change()
    lib.delete_project(p.id, alice)
    with lib.session() as s:
        assert s.exec(select(Share)).all() == []  # the project's shares go with it


def test_shared_voices_are_spoken_with_never_changed_and_keep_their_consent(services):
    alice, bob, _ = people(services)
    profiles, sharing = services.voices.profiles, services.sharing
    with services.library.session() as s:
        v = VoiceProfile(name="Alice's voice", owner_id=alice.user_id, consent_by="alice",
                         stats={"language": "en", "f0_median_hz": 204.4, "transcripts": ["What alice said."],
                                "clips": [{"name": "alice at home.flac", "seconds": 3.5}]})
        s.add(v)
        s.commit()
        s.refresh(v)
    with pytest.raises(NotFound):
        profiles.get(v.id, bob, need="speak")
    sharing.share_voice(f"profile:{v.id}", "bob", alice)
    assert profiles.get(f"profile:{v.id}", bob, need="speak").id == v.id
    assert profiles.get("Alice's voice", bob, need="speak").id == v.id  # by name too
    assert [p.id for p in profiles.list(bob)] == [v.id] and profiles.shared_with(bob) == {v.id: "alice"}
    listed = services.voices.list_voices(bob)["profiles"]
    assert [(x["id"], x["shared"], x["references"], x["consent_by"]) for x in listed] == \
        [(v.id, {"role": "speak", "by": "alice"}, [], "alice")]
    # Nothing of her recordings: neither their names nor the words said in them.
    assert listed[0]["stats"] == {"language": "en", "f0_median_hz": 204.4}
    (hers,) = services.voices.list_voices(alice)["profiles"]
    assert hers["shared"] is None and hers["stats"]["transcripts"] == ["What alice said."]
    for change in (lambda: profiles.get(v.id, bob), lambda: profiles.rename(v.id, "Mine", bob),
                   lambda: profiles.delete(v.id, bob), lambda: sharing.share_voice(v.id, "carol", bob),
                   lambda: services.voices.add_clips(f"profile:{v.id}", [], bob)):
        with pytest.raises(Forbidden, match="shared with you to speak with"):
            change()
    assert profile_json(v, [], "alice")["references"] == []
    assert sharing.unshare_voice(v.id, "bob", alice)
    with pytest.raises(NotFound, match="there is no voice profile"):
        profiles.get(v.id, bob, need="speak")
    assert profiles.list(bob) == []


def test_sharing_refuses_clearly(services):
    alice, bob, _ = people(services)
    lib, sharing = services.library, services.sharing
    p = lib.create_project("Mine", alice)
    for args, message in (((p.id, "nobody", "viewer", alice), "no user called 'nobody'"),
                          ((p.id, "local", "viewer", alice), "no user called 'local'"),
                          ((p.id, "alice", "viewer", alice), "that is you"),
                          ((p.id, "bob", "owner", alice), "role must be one of viewer, editor"),
                          ((p.id, "bob", "viewer", Actor()), "sign-in is off")):
        with pytest.raises(InputError, match=message):
            sharing.share_project(*args)
    with pytest.raises(NotFound, match=f"no project with id {p.id}"):
        sharing.share_project(p.id, "bob", "viewer", bob)  # not hers to give: as if it did not exist
    services.accounts.set_disabled("bob")
    with pytest.raises(InputError, match="no user called 'bob'"):
        sharing.share_project(p.id, "bob", "viewer", alice)


def test_list_of_shares_given_and_received(services):
    alice, bob, carol = people(services)
    lib, sharing = services.library, services.sharing
    p = lib.create_project("Film", alice)
    q = lib.create_project("Song", bob)
    sharing.share_project(p.id, "bob", "editor", alice)
    sharing.share_project(q.id, "alice", "viewer", bob)
    got = sharing.shares(alice)
    assert [(x["name"], x["user"], x["role"]) for x in got["given"]] == [("Film", "bob", "editor")]
    assert [(x["name"], x["owner"], x["role"]) for x in got["received"]] == [("Song", "bob", "viewer")]
    assert sharing.shares(carol) == {"given": [], "received": []}


def test_a_job_cannot_read_another_users_asset_as_its_input(services, samples):
    alice, bob, _ = people(services)
    lib = services.library
    theirs = lib.add_upload(lib.create_project("A", alice).id, samples / "portraits" / "art_0.png", "a.png", alice)
    with pytest.raises(NotFound, match=f"no asset with id {theirs.id}"):
        services.jobs.run(kind="speak", params={}, work=lambda ctx: None, inputs=[theirs.id], actor=bob)
    assert lib.list_generations(lib.default_project(bob).id, bob) == []
