"""Projects, assets, history, export/import and crash recovery, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import soundfile as sf
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from core.errors import InputError
from storage import archive
from storage.archive import EXPORT_FORMAT
from storage.library import NotFound
from storage.models import Asset, Generation, GenerationAsset, JobStatus, MediaKind, Project


def voice(samples: Path, n: int = 0) -> Path:
    return sorted((samples / "voices" / "librispeech-1688").glob("*.flac"))[n]


def stored_files(library) -> list[Path]:
    return [p for p in library.store.root.rglob("*") if p.is_file()]


def test_database_settings(library):
    """SQLite runs in WAL mode with foreign keys on and a busy timeout; PostgreSQL just works."""
    with library.engine.connect() as c:
        if library.engine.dialect.name == "sqlite":
            assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert c.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        else:
            assert library.engine.dialect.name == "postgresql"
            assert c.execute(text("select 1")).scalar() == 1


def test_foreign_keys_are_enforced(library):
    p = library.create_project("FK")
    with library.session() as s:
        s.add(Asset(project_id=p.id + 999, kind="text", name="x", sha256="0" * 64, ext=".txt",
                    mime="text/plain", size_bytes=1))
        with pytest.raises(IntegrityError):
            s.commit()


def test_project_lifecycle(library, samples):
    p = library.create_project("  My   first  song ")
    assert p.id and p.name == "My first song"
    assert [x.id for x, _ in library.list_projects()] == [p.id]
    library.rename_project(p.id, "Renamed")
    assert library.get_project(p.id).name == "Renamed"
    a = library.add_upload(p.id, voice(samples), "take1.flac")
    assert a.kind.value == "audio" and a.sample_rate == 16000 and a.channels == 1
    assert abs(a.duration_s - sf.info(str(voice(samples))).duration) < 0.01
    assert library.asset_path(a).is_file()
    (_, count), = library.list_projects()
    assert count == 1
    library.delete_project(p.id)
    with pytest.raises(NotFound):
        library.get_project(p.id)
    assert stored_files(library) == []
    with library.session() as s:
        assert s.exec(select(Asset)).all() == []


@pytest.mark.parametrize("bad", ["", "   ", "x" * 201])
def test_bad_project_names_are_refused(library, bad):
    with pytest.raises(InputError, match="name"):
        library.create_project(bad)
    assert library.list_projects() == []


@pytest.mark.parametrize("bad", ["abc", -1, 0, 10**9, None])
def test_unknown_project_ids_are_clear_errors(library, bad):
    with pytest.raises(InputError, match="project"):
        library.list_assets(bad)


def test_shared_content_is_stored_once(library, samples):
    p = library.create_project("Dedup")
    a = library.add_upload(p.id, voice(samples), "a.flac")
    b = library.add_upload(p.id, voice(samples), "b.flac")
    assert a.sha256 == b.sha256 and len(stored_files(library)) == 1
    library.delete_asset(a.id)
    assert len(stored_files(library)) == 1 and library.asset_path(b).is_file()
    library.delete_asset(b.id)
    assert stored_files(library) == []


def test_export_then_import_round_trip(library, samples, tmp_path):
    p = library.create_project("Round trip")
    a = library.add_upload(p.id, voice(samples, 1), "speech.flac")
    ph = library.add_upload(p.id, samples / "portraits" / "art_1.png", "face.png")
    with library.session() as s:
        g = Generation(project_id=p.id, kind="speak", params={"text": "hi"}, status=JobStatus.succeeded,
                       backend="embedded", progress=1.0)
        s.add(g)
        s.flush()
        s.add(GenerationAsset(generation_id=g.id, asset_id=a.id, role="output"))
        s.commit()

    zpath = archive.export_project(library, p.id, tmp_path)
    with zipfile.ZipFile(zpath) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["format"] == EXPORT_FORMAT
        assert {x["name"] for x in manifest["assets"]} == {"speech.flac", "face.png"}
        assert zf.read(f"media/{a.sha256}.flac") == library.asset_path(a).read_bytes()

    q = archive.import_project(library, zpath)
    assert q.id != p.id and q.name == "Round trip"
    got = {x.name: x for x in library.list_assets(q.id)}
    assert set(got) == {"speech.flac", "face.png"}
    assert got["face.png"].width == ph.width and got["speech.flac"].duration_s == a.duration_s
    gens = library.list_generations(q.id)
    assert len(gens) == 1 and gens[0]["status"] == "succeeded"
    assert gens[0]["outputs"] == [got["speech.flac"].id]


def test_import_refuses_damaged_archives_and_stores_nothing(library, samples, tmp_path):
    p = library.create_project("Src")
    library.add_upload(p.id, voice(samples, 2), "v.flac")
    good = archive.export_project(library, p.id, tmp_path)
    library.delete_project(p.id)
    assert stored_files(library) == []

    # A media file that does not match its checksum.
    bad = tmp_path / "tampered.zip"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, data[:-10] + b"0" * 10 if info.filename.startswith("media/") else data)
    with pytest.raises(InputError, match="checksum"):
        archive.import_project(library, bad)

    no_manifest = tmp_path / "plain.zip"
    with zipfile.ZipFile(no_manifest, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(InputError, match="manifest"):
        archive.import_project(library, no_manifest)

    assert library.list_projects() == []
    assert stored_files(library) == []


def _store_generated(library, project_id: int, tmp_path: Path, name: str, data: bytes, kind: MediaKind):
    from storage.intake import Probed

    path = tmp_path / name
    path.write_bytes(data)
    return library.add_probed(project_id, Probed(kind, path, path.suffix, "application/octet-stream"), name,
                              origin="generated")


# The smallest standard MIDI file: a header and one track that only ends.
MIDI = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60" + b"MTrk\x00\x00\x00\x04\x00\xff\x2f\x00"
# The shape of a Content Credentials sidecar: one JUMBF superbox the length of the file (its signature is
# the C2PA SDK's to check when it is read).
SIDECAR = (24).to_bytes(4, "big") + b"jumb" + (16).to_bytes(4, "big") + b"jumdc2pa" + bytes(4)


def test_import_checks_generated_files_as_what_they_claim(library, samples, tmp_path):
    """Exported MIDI, speech sentences (.npz) and Content Credentials sidecars (.c2pa) come back as they were;
    an .npz that would unpickle code, a MIDI or a sidecar that is not one, is refused naming the member, and
    nothing of the project is stored."""
    import io

    import numpy as np

    p = library.create_project("Song")
    library.add_upload(p.id, voice(samples, 1), "speech.flac")
    buf = io.BytesIO()
    np.savez(buf, index=np.frombuffer(b'[{"text": "Hi.", "pause": "sentence", "rate": 8000}]', np.uint8),
             take0=np.zeros(80, np.float32))
    takes = _store_generated(library, p.id, tmp_path, "speak-sentences.npz", buf.getvalue(), MediaKind.other)
    midi = _store_generated(library, p.id, tmp_path, "song.mid", MIDI, MediaKind.other)
    side = _store_generated(library, p.id, tmp_path, "song.mid.c2pa", SIDECAR, MediaKind.other)
    good = archive.export_project(library, p.id, tmp_path)
    q = archive.import_project(library, good)
    got = {a.name: a for a in library.list_assets(q.id)}
    assert got["speak-sentences.npz"].sha256 == takes.sha256 and got["song.mid"].sha256 == midi.sha256
    assert got["song.mid.c2pa"].sha256 == side.sha256 and got["song.mid.c2pa"].mime == "application/c2pa"
    library.delete_project(q.id)

    pickled = io.BytesIO()
    np.savez(pickled, take0=np.array([{"run": "os.system"}], dtype=object))
    for member, data, match in [(f"media/{takes.sha256}.npz", pickled.getvalue(), "Object arrays cannot be loaded"),
                                (f"media/{midi.sha256}.mid", b"MThd" + bytes(20), "not a readable MIDI file"),
                                (f"media/{side.sha256}.c2pa", SIDECAR[:-1], "not a readable Content Credentials")]:
        bad = tmp_path / "bad.zip"
        with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
            manifest = json.loads(zin.read("manifest.json"))
            for a in manifest["assets"]:
                a.pop("sha256")  # the checksum would catch the change first; the content check must too
            zout.writestr("manifest.json", json.dumps(manifest))
            for info in zin.infolist():
                if info.filename != "manifest.json":
                    zout.writestr(info.filename, data if info.filename == member else zin.read(info))
        with pytest.raises(InputError, match=f"{member} .*was refused: .*{match}.*Nothing was imported"):
            archive.import_project(library, bad)
    assert [x.name for x, _ in library.list_projects()] == ["Song"]
    assert len(stored_files(library)) == 4


def test_recover_marks_interrupted_jobs_and_removes_orphans(library, samples):
    p = library.create_project("Crash")
    kept = library.add_upload(p.id, voice(samples, 3), "kept.flac")
    with library.session() as s:
        for st in (JobStatus.running, JobStatus.queued, JobStatus.succeeded):
            s.add(Generation(project_id=p.id, kind="speak", status=st))
        s.commit()
    orphan = library.store.path_for("ab" * 32, ".wav")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"partial output of a crashed job")
    scratch = library.store.new_scratch_dir("job9-")
    (scratch / "half.wav").write_bytes(b"x")

    out = library.recover()
    assert out == {"interrupted": 2, "orphan_files_removed": 1}
    statuses = sorted((g["status"], g["error"]) for g in library.list_generations(p.id))
    # What a client whose connection the restart cut finds in /list_generations.
    restarted = "the server restarted; the job was interrupted"
    assert statuses == [("failed", restarted), ("failed", restarted), ("succeeded", "")]
    assert not orphan.exists() and library.asset_path(kept).exists()
    assert list(library.store.scratch.iterdir()) == []


def test_projects_are_kept_per_owner(library):
    """Rows carry owners now so accounts can isolate users later."""
    from storage.library import Actor

    alice = library.ensure_user("alice")
    bob = library.ensure_user("bob")
    pa = library.create_project("Alice's", Actor(user_id=alice.id))
    library.create_project("Bob's", Actor(user_id=bob.id))
    assert [p.name for p, _ in library.list_projects(Actor(user_id=alice.id))] == ["Alice's"]
    with pytest.raises(NotFound):
        library.get_project(pa.id, Actor(user_id=bob.id))
    with library.session() as s:
        assert s.get(Project, pa.id).owner_id == alice.id


def test_add_uploads_is_all_or_nothing(library, samples, tmp_path):
    """Several photos arrive together: one bad file refuses the lot and nothing is stored."""
    from storage.models import MediaKind

    p = library.create_project("Batch")
    portraits = sorted((samples / "portraits").glob("*.png"))
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(b"not a picture at all")
    before = stored_files(library)
    with pytest.raises(InputError, match="holiday.jpg"):
        library.add_uploads(p.id, [(portraits[0], portraits[0].name), (fake, fake.name)], MediaKind.photo)
    with pytest.raises(InputError, match="is audio, not photo: photos only"):
        library.add_uploads(p.id, [(portraits[0], portraits[0].name), (voice(samples), "v.flac")],
                            MediaKind.photo, "photos only")
    assert library.list_assets(p.id) == [] and stored_files(library) == before

    rows = library.add_uploads(p.id, [(x, x.name) for x in portraits], MediaKind.photo)
    assert [a.name for a in rows] == [x.name for x in portraits]
    assert {a.kind for a in rows} == {MediaKind.photo} and all(a.width and a.height for a in rows)
    assert len(library.list_assets(p.id)) == len(portraits)


def test_get_generation_returns_its_inputs_and_outputs(library, samples):
    from storage.jobs import JobOutput, JobResult, JobRunner
    from storage.models import MediaKind

    p = library.create_project("History")
    src = library.add_upload(p.id, voice(samples), "in.flac")

    def work(ctx):
        out = ctx.workdir / "out.txt"
        out.write_text("made", encoding="utf-8")
        return JobResult([JobOutput(out, MediaKind.text, "out.txt", meta={"role": "note"})])

    done = JobRunner(library).run(kind="demo", params={"x": 1}, work=work, project_id=p.id, inputs=[src.id])
    g, inputs, outputs = library.get_generation(done.generation.id, "demo")
    assert g.params == {"x": 1} and [a.id for a in inputs] == [src.id]
    assert [(a.name, a.meta["role"]) for a in outputs] == [("out.txt", "note")]
    with pytest.raises(NotFound, match="no song with id"):
        library.get_generation(done.generation.id, "song")
    with pytest.raises(NotFound):
        library.get_generation(10**8)
