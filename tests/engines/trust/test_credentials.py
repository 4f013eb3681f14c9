"""Content Credentials: a signed C2PA manifest in WAV, FLAC, MP3, MP4, PNG and PPTX files, read back and
validated by the C2PA SDK; trusted against the studio's own root, not against another's; a changed
file fails its hash check; the file itself still plays or opens."""

from __future__ import annotations

import shutil
import stat
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from core.audio import Audio
from engines.trust import credentials
from engines.trust.credentials import Claim, Ingredient
from tests.conftest import SAMPLES

FORMATS = (".wav", ".flac", ".mp3", ".mp4", ".png", ".pptx")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """One real file of each format: a recording, a portrait, a video of both, a deck."""
    samples = SAMPLES
    folder = tmp_path_factory.mktemp("media")
    speech = sorted((samples / "voices" / "librispeech-1688").glob("*.flac"))[0]
    portrait = samples / "portraits" / "art_1.png"
    ff = ["ffmpeg", "-v", "error", "-y"]
    out = {".flac": folder / "speech.flac", ".wav": folder / "speech.wav", ".mp3": folder / "speech.mp3",
           ".png": folder / "portrait.png", ".mp4": folder / "clip.mp4", ".pptx": folder / "deck.pptx"}
    shutil.copy(speech, out[".flac"])
    Audio.read(speech).write(out[".wav"])
    subprocess.run([*ff, "-i", str(speech), "-b:a", "128k", str(out[".mp3"])], check=True)
    shutil.copy(portrait, out[".png"])
    subprocess.run([*ff, "-loop", "1", "-i", str(portrait), "-i", str(speech), "-t", "2", "-vf", "scale=128:128",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out[".mp4"])], check=True)
    from pptx import Presentation

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Signed deck"
    slide.shapes.add_picture(str(portrait), 0, 0)
    deck.save(out[".pptx"])
    return out


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    return credentials.make_test_chain(tmp_path_factory.mktemp("keys"))


def claim(name: str, inputs: tuple[Ingredient, ...] = ()) -> Claim:
    return Claim(title=name, generation_id=4242, kind="speak", engine="embedded", model="piper joe-us",
                 model_licence="MIT", commercial_use="yes", studio="Digital Clone Studio", studio_version="test",
                 created_at="2026-12-04T12:00:00Z", ingredients=inputs,
                 watermark={"studio_id": 1, "generation_id": 4242}, test_chain=True)


@pytest.mark.parametrize("ext", FORMATS)
def test_every_format_carries_a_valid_manifest(media, identity, tmp_path, ext):
    path = tmp_path / f"out{ext}"
    shutil.copy(media[ext], path)
    ref = media[".flac"]
    credentials.sign(path, claim(path.name, (Ingredient("reference.flac", "audio/flac", "ab" * 32, ref),)), identity)

    got = credentials.read(path)
    assert got.present and got.intact and got.state == "Valid"
    assert got.failures == ("signingCredential.untrusted",)  # a self-made chain is on nobody's trust list
    trusted = credentials.read(path, identity.root_pem)
    assert trusted.state == "Trusted" and trusted.failures == ()
    assert trusted.studio["generation_id"] == 4242 and trusted.studio["model_licence"] == "MIT"
    assert trusted.studio["inputs"] == [{"title": "reference.flac", "mime": "audio/flac", "sha256": "ab" * 32}]
    assert trusted.studio["signed_with_test_chain"] is True and "test chain" in trusted.signer
    (created,) = [a for a in trusted.actions if a["action"] == "c2pa.created"]
    assert created["digitalSourceType"].endswith("/trainedAlgorithmicMedia")
    assert created["parameters"]["model"] == "piper joe-us"
    assert "c2pa.watermarked" in {a["action"] for a in trusted.actions}
    assert trusted.ingredients == ("reference.flac",)


@pytest.mark.parametrize("ext", (".wav", ".mp3", ".mp4", ".png"))
def test_the_signed_file_is_still_the_same_media(media, identity, tmp_path, ext):
    path = tmp_path / f"out{ext}"
    shutil.copy(media[ext], path)
    credentials.sign(path, claim(path.name), identity)
    if ext == ".png":
        from PIL import Image

        with Image.open(media[ext]) as a, Image.open(path) as b:
            assert a.size == b.size and a.tobytes() == b.tobytes()
        return
    if ext == ".mp4":
        probe = ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,nb_frames", "-of", "csv=p=0"]
        assert subprocess.run([*probe, str(path)], capture_output=True, text=True, check=True).stdout == \
               subprocess.run([*probe, str(media[ext])], capture_output=True, text=True, check=True).stdout
        return
    before, after = Audio.read(media[ext]), Audio.read(path)
    assert after.sample_rate == before.sample_rate and len(after.samples) == len(before.samples)
    assert float(abs(after.samples - before.samples).max()) == 0.0


def test_a_signed_deck_still_opens_with_its_slides(media, identity, tmp_path):
    """The SDK reads only ZIP entries stored without compression: the deck is stored, not deflated,
    before signing, and opens as before."""
    from pptx import Presentation

    path = tmp_path / "deck.pptx"
    shutil.copy(media[".pptx"], path)
    credentials.sign(path, claim(path.name), identity)
    with zipfile.ZipFile(path) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
        assert zf.testzip() is None
    deck = Presentation(str(path))
    assert [s.shapes.title.text for s in deck.slides] == ["Signed deck"]


def test_a_changed_file_fails_validation(media, identity, tmp_path):
    path = tmp_path / "out.wav"
    shutil.copy(media[".wav"], path)
    credentials.sign(path, claim(path.name), identity)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x55  # one byte of one sample
    path.write_bytes(bytes(data))
    got = credentials.read(path, identity.root_pem)
    assert got.present and not got.intact and got.state == "Invalid"
    assert any("dataHash.mismatch" in f for f in got.failures), got.failures


def test_another_chain_is_valid_but_not_trusted_by_this_studio(media, identity, tmp_path):
    other = credentials.make_test_chain(tmp_path / "other")
    path = tmp_path / "out.png"
    shutil.copy(media[".png"], path)
    credentials.sign(path, claim(path.name), other)
    assert credentials.read(path).state == "Valid"
    mine = credentials.read(path, identity.root_pem)
    assert mine.state == "Valid" and "signingCredential.untrusted" in mine.failures


def test_a_file_without_credentials_reads_as_absent(media):
    assert credentials.read(media[".wav"]) == credentials.Reading(False)
    assert not credentials.read(media[".png"]).present


def test_test_chain_files_and_loading(identity, tmp_path):
    folder = tmp_path / "chain"
    made = credentials.make_test_chain(folder)
    assert stat.S_IMODE((folder / "key.pem").stat().st_mode) == 0o600
    loaded = credentials.load_identity(folder / "chain.pem", folder / "key.pem")
    assert loaded == made and loaded.test_chain
    assert loaded.root_pem.count(b"BEGIN CERTIFICATE") == 1 and loaded.root_pem != made.chain_pem
    (tmp_path / "not.pem").write_text("hello")
    with pytest.raises(credentials.CredentialsError, match="no PEM certificate"):
        credentials.load_identity(tmp_path / "not.pem", folder / "key.pem")
    with pytest.raises(credentials.CredentialsError, match="no PEM private key"):
        credentials.load_identity(folder / "chain.pem", tmp_path / "not.pem")


def test_formats_that_cannot_hold_credentials_are_refused(identity, tmp_path):
    path = tmp_path / "lyrics.txt"
    path.write_text("la la la")
    assert not credentials.can_hold(path)
    with pytest.raises(credentials.CredentialsError, match="cannot hold"):
        credentials.sign(path, claim(path.name), identity)
    assert path.read_text() == "la la la"


# ------------------------------------------------------------------ sidecars of text and data files

TEXTS = {"lyrics.txt": "[Verse]\nThe harbour lights are calling me\n",
         "song.lrc": "[00:01.00]The harbour lights are calling me\n",
         "notes.md": "# Harbour\n\nA song about the sea.\n",
         "captions.srt": "1\n00:00:00,500 --> 00:00:02,000\nHello there\n",
         "captions.vtt": "WEBVTT\n\n00:00.500 --> 00:02.000\nHello there\n",
         "metrics.json": '{"lufs": -14.0}\n'}


@pytest.mark.parametrize("name", [*TEXTS, "song.mid"])
def test_text_and_data_files_get_a_sidecar_that_binds_their_bytes(identity, tmp_path, name):
    """The file is left as it was; its sidecar `<name>.c2pa` validates with it, trusted against the studio's
    root, and names the generation and the file's SHA-256; one changed byte fails the data hash while the
    signature still checks."""
    import hashlib

    path = tmp_path / name
    if name.endswith(".mid"):
        path.write_bytes(_midi())
    else:
        path.write_text(TEXTS[name], encoding="utf-8")
    before = path.read_bytes()
    digest = hashlib.sha256(before).hexdigest()
    assert credentials.takes_sidecar(path) and not credentials.can_hold(path)
    side = credentials.sign_sidecar(path, replace(claim(name), content_sha256=digest), identity)
    assert side == tmp_path / f"{name}.c2pa" and path.read_bytes() == before
    assert credentials.is_sidecar(side) and not credentials.is_sidecar(path)

    got = credentials.read(path, identity.root_pem, sidecar=side)
    assert (got.state, got.failures, got.content) == ("Trusted", (), "matches")
    assert got.studio["generation_id"] == 4242 and got.studio["content_sha256"] == digest and got.title == name
    (created,) = [a for a in got.actions if a["action"] == "c2pa.created"]
    assert created["digitalSourceType"] == credentials.TRAINED_ALGORITHMIC_MEDIA

    path.write_bytes(before[:-1] + bytes([before[-1] ^ 0x01]))
    changed = credentials.read(path, identity.root_pem, sidecar=side)
    assert not changed.intact and changed.content == "changed" and credentials.DATA_HASH_MISMATCH in changed.failures
    assert changed.signature_state == "Trusted"


def _midi() -> bytes:
    import io

    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(velocity=90, pitch=60, start=0.0, end=0.5))
    pm.instruments.append(piano)
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def test_a_sidecar_read_alone_names_its_generation_but_not_the_content(identity, tmp_path):
    path = tmp_path / "lyrics.txt"
    path.write_text(TEXTS["lyrics.txt"], encoding="utf-8")
    side = credentials.sign_sidecar(path, claim(path.name), identity)
    alone = credentials.read(side, identity.root_pem)
    assert (alone.state, alone.failures, alone.content) == ("Trusted", (), "not given")
    assert alone.studio["generation_id"] == 4242 and alone.title == "lyrics.txt"
    other = credentials.make_test_chain(tmp_path / "other")
    untrusted = credentials.read(side, other.root_pem)
    assert untrusted.state == "Valid" and untrusted.failures == (credentials.UNTRUSTED,)
    # A sidecar whose signature was tampered with does not validate, alone or with its file.
    data = bytearray(side.read_bytes())
    data[-40] ^= 0x01
    side.write_bytes(bytes(data))
    assert not credentials.read(side, identity.root_pem).intact
    assert not credentials.read(path, identity.root_pem, sidecar=side).intact


def test_media_files_take_no_sidecar(media, identity):
    assert not credentials.takes_sidecar(media[".wav"])
    with pytest.raises(credentials.CredentialsError, match="takes no sidecar"):
        credentials.sign_sidecar(media[".wav"], claim("speech.wav"), identity)
