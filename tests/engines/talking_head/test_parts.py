"""The engine's parts on their own: speech analysis, blinks and head motion, the warp rigs, and the
choice among talking-head backends (neural ones first, the embedded engine as fallback)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.audio import Audio
from core.errors import BackendUnavailable, InputError
from engines.backend import Backends
from engines.talking_head import backends
from engines.talking_head import landmarks as L
from engines.talking_head.motion import blink_track, plan_motion
from engines.talking_head.mouth import MouthTrack, analyse_speech
from engines.talking_head.types import FaceBox, TalkingHeadRequest, TalkingHeadResult
from settings import Settings
from tests.engines.talking_head.measure import SAMPLES

RATE = 16_000


def _vowel(f1: float, f2: float, seconds: float, f0: float = 120.0, level: float = 0.3) -> np.ndarray:
    """A crude vowel: a glottal pulse train through three formant resonators."""
    from scipy.signal import lfilter

    n = int(seconds * RATE)
    src = np.zeros(n)
    src[:: int(RATE / f0)] = 1.0
    y = src
    for f, bw in ((f1, 80.0), (f2, 110.0), (2900.0, 160.0)):
        r = np.exp(-np.pi * bw / RATE)
        y = lfilter([1.0], [1.0, -2 * r * np.cos(2 * np.pi * f / RATE), r * r], y)
    return (level * y / np.abs(y).max()).astype(np.float32)


# ----------------------------------------------------------------------------- speech -> mouth


def test_silence_gives_a_closed_still_mouth():
    t = analyse_speech(Audio.silence(2.0, RATE), 25, 50)
    assert t.silent and not t.open.any() and not t.shape.any()
    hiss = Audio((np.random.default_rng(0).standard_normal(RATE) * 1e-4).astype(np.float32), RATE)
    assert analyse_speech(hiss, 25, 25).silent  # -80 dBFS of noise is not speech


def test_opening_follows_speech_and_closes_in_gaps():
    gap = np.zeros(int(0.4 * RATE), np.float32)
    a = Audio(np.concatenate([_vowel(700, 1200, 0.5), gap, _vowel(700, 1200, 0.5)]), RATE)
    t = analyse_speech(a, 25, 35)
    assert t.open[3:10].min() > 0.3  # open on the vowel
    assert (t.open[15:20] == 0).all() and (t.shape[15:20] == 0).all()  # closed, neutral in the gap
    assert t.open[25:32].min() > 0.3
    assert t.active[3:10].all() and not t.active[15:20].any()


@pytest.mark.parametrize("offset_s", [0.0, 0.013, 0.027])
def test_lips_meet_on_a_short_stop_closure(offset_s):
    """A 60 ms pause between two vowels (the closure of a b, p or m) gets a closed-lips frame,
    wherever it falls between frame times."""
    gap = np.zeros(int(0.06 * RATE), np.float32)
    a = Audio(np.concatenate([_vowel(700, 1200, 0.4 + offset_s), gap, _vowel(700, 1200, 0.4)]), RATE)
    t = analyse_speech(a, 25, int(a.duration_s * 25))
    around = t.open[8:13]
    assert (around == 0).any() and around.max() > 0.5, around


def test_lip_shape_rounds_on_oo_and_spreads_on_ee():
    oo = _vowel(300, 800, 0.6)
    ee = _vowel(300, 2300, 0.6)
    t = analyse_speech(Audio(np.concatenate([oo, ee]), RATE), 25, 30)
    assert t.shape[4:11].mean() < -0.3, t.shape  # rounded
    assert t.shape[19:26].mean() > 0.3, t.shape  # spread
    # Open vowels open wider than close ones at the same loudness.
    ah = analyse_speech(Audio(_vowel(750, 1250, 0.6), RATE), 25, 15).open[4:11].mean()
    assert ah > t.open[4:11].mean()


def test_real_speech_track_is_smooth_and_bounded():
    path = SAMPLES / "voices" / "librispeech-1688" / "1688-142285-0001.flac"
    if not path.exists():
        pytest.skip("shared samples missing")
    a = Audio.read(path)
    n = int(round(a.duration_s * 25))
    t = analyse_speech(a, 25, n)
    assert t.open.shape == (n,) and t.open.min() >= 0 and t.open.max() <= 1
    assert t.shape.min() >= -1 and t.shape.max() <= 1
    assert 0.3 < t.active.mean() < 0.98
    assert np.abs(np.diff(t.open)).max() < 0.7  # no one-frame slams


# ----------------------------------------------------------------------------- blinks and head


def test_blinks_are_natural_in_rate_and_shape():
    b = blink_track(25 * 60, 25, np.random.default_rng(3))
    closes = int(((b[1:] >= 0.9) & (b[:-1] < 0.9)).sum())
    assert 8 <= closes <= 30, closes  # people blink ~15-20 times a minute
    assert b.min() >= 0 and b.max() <= 1
    assert (b > 0.05).mean() < 0.12  # eyes are open most of the time


def test_still_mode_and_zero_motion_keep_the_head_put():
    n = 100
    quiet = MouthTrack(25, np.zeros(n, np.float32), np.zeros(n, np.float32), np.zeros(n, bool),
                       np.zeros(n, np.float32), False, -20.0)
    for kw in ({"still": True, "head_motion": 1.0}, {"still": False, "head_motion": 0.0}):
        m = plan_motion(n, 25, 200.0, quiet, blinks=False, seed=1, **kw)
        assert (m.head[:, :3] == 0).all() and (m.head[:, 3] == 1).all() and not m.blink.any()
    moving = plan_motion(n, 25, 200.0, quiet, 1.0, False, True, seed=1)
    assert 0.1 < np.abs(moving.head[:, 0]).max() < 3.0  # roll, degrees
    assert 0.5 < np.abs(moving.head[:, 1:3]).max() < 10.0  # shifts, px for a 200 px face
    again = plan_motion(n, 25, 200.0, quiet, 1.0, False, True, seed=1)
    assert np.array_equal(moving.head, again.head) and np.array_equal(moving.blink, again.blink)


# ----------------------------------------------------------------------------- rigs


@pytest.fixture(scope="module")
def face():
    pytest.importorskip("mediapipe")
    import cv2

    p = SAMPLES / "portraits" / "art_1.png"
    if not p.exists():
        pytest.skip("shared samples missing")
    rgb = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
    faces = L.find_faces(rgb)
    assert len(faces) == 1
    return rgb, faces[0].points


def _grid(roi):
    ys, xs = roi
    return np.meshgrid(np.arange(xs.start, xs.stop, dtype=np.float32), np.arange(ys.start, ys.stop, dtype=np.float32))


def test_mouth_rig_is_identity_at_rest_and_opens_the_jaw(face):
    from engines.talking_head.warp import MouthRig

    rgb, pts = face
    rig = MouthRig(rgb.shape[:2], pts)
    X, Y = _grid(rig.roi)
    mx, my, state = rig.map(0.0, 0.0, 1.0)
    assert state.window is None
    assert np.abs(mx - X).max() < 1e-3 and np.abs(my - Y).max() < 1e-3
    mx, my, state = rig.map(1.0, 0.0, 1.0)
    # The border of the region does not move (no seam with the rest of the photo).
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        assert np.abs(mx[edge] - X[edge]).max() < 0.5 and np.abs(my[edge] - Y[edge]).max() < 0.5
    # The chin is drawn from higher up in the photo: the jaw has dropped.
    chin = pts[L.CHIN]
    r, c = int(chin[1]) - rig.roi[0].start, int(chin[0]) - rig.roi[1].start
    drop = Y[r, c] - my[r, c]
    assert 0.2 * rig.a < drop < 0.8 * rig.a
    # The opening is there, between the lips, with teeth-and-cavity coverage.
    assert state.window is not None and state.alpha.max() == pytest.approx(1.0)
    # Rounding pulls the corners in: near the left corner pixels come from further out.
    mx_r, _, _ = rig.map(0.3, -1.0, 1.0)
    corner = pts[L.MOUTH_CORNERS[0]]
    r, c = int(corner[1]) - rig.roi[0].start, int(corner[0]) - rig.roi[1].start
    assert mx_r[r, c] < X[r, c] - 1.0


def test_eye_rig_closes_the_lid_over_the_eye(face):
    from engines.talking_head.warp import EyeRig

    rgb, pts = face
    rig = EyeRig(rgb.shape[:2], pts, L.EYES[0])
    X, Y = _grid(rig.roi)
    mx, my = rig.map(0.0)
    assert np.abs(my - Y).max() < 1e-3 and np.abs(mx - X).max() < 1e-3
    _, my = rig.map(1.0)
    iris = pts[468]  # the iris centre: once closed it shows lid skin from above the eye
    r, c = int(round(iris[1])) - rig.roi[0].start, int(round(iris[0])) - rig.roi[1].start
    assert my[r, c] < pts[159][1]


def test_head_rig_moves_the_head_and_not_the_corners(face):
    from engines.talking_head.warp import HeadRig

    rgb, pts = face
    rig = HeadRig(rgb.shape[:2], pts)
    X, Y = _grid(rig.roi)
    mx, my = rig.map(0.0, 0.0, 0.0, 1.0)
    assert np.abs(mx - X).max() < 1e-3 and np.abs(my - Y).max() < 1e-3
    mx, my = rig.map(0.0, 3.0, -2.0, 1.0)
    nose = pts[L.NOSE_TIP].astype(int)
    r, c = nose[1] - rig.roi[0].start, nose[0] - rig.roi[1].start
    assert mx[r, c] == pytest.approx(X[r, c] - 3.0, abs=0.05) and my[r, c] == pytest.approx(Y[r, c] + 2.0, abs=0.05)
    # Far from the face (the frame's corners, where the soft head mask is cut by the frame) the
    # background moves by a small fraction of the head's shift at most.
    assert abs(mx[0, 0] - X[0, 0]) < 0.15 * 3.0 and abs(my[-1, -1] - Y[-1, -1]) < 0.15 * 2.0


def test_mouth_opening_measure_on_the_photo(face):
    _, pts = face
    assert L.mouth_opening(pts) < 0.02  # the sample portraits have closed mouths


# ----------------------------------------------------------------------------- backends


def _fake_result(path: Path) -> TalkingHeadResult:
    return TalkingHeadResult(path, 1, 25, 0.04, 2, 2, FaceBox(0, 0, 1, 1), "tiny")


class TinyNeural(backends.TalkingHeadBackend):
    """A stand-in neural backend: 'weights' are a file; loading counts calls."""

    name = "tiny"
    tier = "neural"
    licence = "test"
    local_dirs = ("tiny",)
    weight_files = ("weights.bin",)

    def __init__(self) -> None:
        self.loads, self.fail = 0, False

    def load_model(self, folder, device):
        if self.fail:
            raise BackendUnavailable("tiny weights are corrupt")
        self.loads += 1
        return {"folder": folder, "device": device}

    def render(self, request, settings, progress=None, cancel=None):
        self.load(settings)
        return _fake_result(Path(request.output_path))


@pytest.fixture
def tiny(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models", device="cpu")
    backend = TinyNeural()
    yield Backends([backend, backends.EmbeddedBackend()]), backend, settings
    backend.unload(settings)


def _install_weights(settings: Settings) -> None:
    (Path(settings.models_dir) / "tiny").mkdir(parents=True)
    (Path(settings.models_dir) / "tiny" / "weights.bin").write_bytes(b"0")


def test_auto_uses_an_available_neural_backend_loaded_once(tiny, tmp_path):
    offered, backend, settings = tiny
    req = TalkingHeadRequest("x.png", Audio.silence(1, RATE), output_path=tmp_path / "o.mp4")
    a = backend.availability(settings)
    assert not a.available and "tiny weights not found" in a.reason and str(tmp_path / "models" / "tiny") in a.reason
    with pytest.raises(BackendUnavailable, match="tiny weights not found"):
        backends.render_with(offered, req, settings, backend="tiny")  # named: no silent fallback
    _install_weights(settings)
    assert backend.availability(settings).available
    for _ in range(2):
        r = backends.render_with(offered, req, settings)
        assert (r.backend, r.model, r.licence) == ("tiny", str(tmp_path / "models" / "tiny"), "test")
    assert backend.loads == 1 and backend.is_loaded(settings)  # through the model registry, once


def test_auto_falls_back_to_the_embedded_engine_with_a_note(tiny, tmp_path):
    pytest.importorskip("mediapipe")
    offered, backend, settings = tiny
    _install_weights(settings)
    backend.fail = True
    req = TalkingHeadRequest(SAMPLES / "portraits" / "art_1.png", Audio.silence(0.4, RATE), size=256, still=True,
                             output_path=tmp_path / "o.mp4")
    r = backends.render_with(offered, req, settings)
    assert (r.backend, r.model) == ("embedded", "MediaPipe FaceMesh + warping")
    assert "Apache-2.0" in r.licence
    assert any("tiny could not run" in n and "embedded engine" in n for n in r.notes)
    with pytest.raises(BackendUnavailable):
        backends.render_with(offered, req, settings, backend="tiny")  # named: no silent fallback


def test_backend_names():
    offered = Backends([backends.EmbeddedBackend()])
    with pytest.raises(InputError, match="unknown talking-head backend 'wav2lip'; choose auto, embedded"):
        backends.render_with(offered, TalkingHeadRequest("x.png", Audio.silence(1, RATE)), None, backend="wav2lip")
    assert offered.get("talking_head", "embedded").availability(None).available
    assert offered.names("talking_head") == ["embedded"]
    offered.add(TinyNeural(), before="embedded")
    assert offered.names("talking_head") == ["tiny", "embedded"]
    with pytest.raises(ValueError, match="already offered"):
        offered.add(TinyNeural())
