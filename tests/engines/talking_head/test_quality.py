"""The embedded talking head on both sample portraits with real speech, measured on the decoded
output with tools independent of the engine: an OpenCV Haar cascade finds the face, a separate
MediaPipe FaceMesh measures the mouth, scikit-image SSIM compares with the photo, ffprobe reads
the durations.

Speech: 2 s of LibriSpeech, 1 s of digital silence, 2 s more (16 kHz). Every figure asserted here
is printed too (pytest -s) for the report.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.audio import Audio
from engines.talking_head import TalkingHeadRequest, render_talking_head
from tests.engines.talking_head.measure import (
    SAMPLES,
    MeshProbe,
    decode,
    haar_faces,
    iou,
    loudness,
    masked_ssim,
    probe,
    region_mask,
)

pytest.importorskip("mediapipe")
pytest.importorskip("skimage")

FPS = 25
SILENCE = (2.0, 3.0)  # seconds
PORTRAITS = ("art_0", "art_1")


def _speech() -> Audio:
    path = SAMPLES / "voices" / "librispeech-1688" / "1688-142285-0000.flac"
    if not path.exists():
        pytest.skip(f"shared samples not found at {SAMPLES}")
    a = Audio.read(path).mono()
    r = a.sample_rate
    parts = [a.samples[: 2 * r], np.zeros(r, np.float32), a.samples[2 * r: 4 * r]]
    return Audio(np.concatenate(parts).astype(np.float32), r)


@pytest.fixture(scope="module")
def probe_mesh():
    m = MeshProbe()
    yield m
    m.close()


@pytest.fixture(scope="module", params=PORTRAITS)
def rendered(request, tmp_path_factory, probe_mesh):
    """One portrait rendered twice: default options (head motion on) and still mode."""
    import cv2

    name = request.param
    photo = SAMPLES / "portraits" / f"{name}.png"
    if not photo.exists():
        pytest.skip(f"shared samples not found at {SAMPLES}")
    audio = _speech()
    out = tmp_path_factory.mktemp(name)
    moving = render_talking_head(TalkingHeadRequest(photo, audio, size=512, fps=FPS, output_path=out / "moving.mp4"))
    still = render_talking_head(TalkingHeadRequest(photo, audio, size=512, fps=FPS, still=True,
                                                   output_path=out / "still.mp4"))
    source = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    reference = cv2.resize(source, (moving.width, moving.height), interpolation=cv2.INTER_AREA)
    frames = decode(moving.video_path)
    openings = np.array([probe_mesh.opening(f) for f in frames])
    return {"name": name, "audio": audio, "moving": moving, "still": still, "frames": frames,
            "still_frames": decode(still.video_path), "reference": reference, "openings": openings,
            "neutral": probe_mesh.opening(reference), "ref_points": probe_mesh.points(reference)}


def test_independent_detector_finds_the_face_in_every_frame(rendered):
    ref_boxes = haar_faces(rendered["reference"])
    assert len(ref_boxes) >= 1, "the Haar cascade must find the face in the photo itself"
    ref = max(ref_boxes, key=lambda b: b[2] * b[3])
    hits = 0
    for f in rendered["frames"]:
        boxes = haar_faces(f)
        hits += any(iou(b, ref) > 0.5 for b in boxes)
    rate = hits / len(rendered["frames"])
    print(f"\n{rendered['name']}: Haar face found in {hits}/{len(rendered['frames'])} frames ({rate:.1%})")
    assert rate >= 0.99


def test_mouth_opening_follows_the_loudness(rendered):
    a, op = rendered["audio"], rendered["openings"]
    n = len(op)
    env = loudness(a.samples, a.sample_rate, FPS, n)
    assert not np.isnan(op).any(), "FaceMesh lost the face on some output frames"
    speech = np.r_[0:int(SILENCE[0] * FPS), int(SILENCE[1] * FPS):n]
    r_speech = float(np.corrcoef(op[speech], env[speech])[0, 1])
    r_all = float(np.corrcoef(op, env)[0, 1])
    print(f"\n{rendered['name']}: mouth opening vs RMS loudness r = {r_speech:.3f} on speech frames, "
          f"{r_all:.3f} on all frames; opening range {op.min():.3f}..{op.max():.3f} (eye-corner units)")
    assert r_speech >= 0.5
    assert op.max() - rendered["neutral"] > 0.08, "the mouth must visibly open on speech"


def test_mouth_rests_closed_in_silence(rendered):
    op = rendered["openings"]
    # Frames wholly inside the silent second, leaving 0.2 s for the lips to close.
    quiet = slice(int((SILENCE[0] + 0.2) * FPS), int((SILENCE[1] - 0.1) * FPS))
    mean, std = float(np.mean(op[quiet])), float(np.std(op[quiet]))
    print(f"\n{rendered['name']}: silence opening mean {mean:.4f} sd {std:.4f}, photo {rendered['neutral']:.4f}")
    assert abs(mean - rendered["neutral"]) < 0.02
    assert std < 0.006
    # Pixel level, still mode: the mouth region does not quiver from frame to frame.
    pts = rendered["ref_points"]
    mw = float(np.linalg.norm(pts[291] - pts[61]))
    x0, x1 = int(pts[61][0] - 0.3 * mw), int(pts[291][0] + 0.3 * mw)
    y0, y1 = int(pts[0][1] - 0.3 * mw), int(pts[17][1] + 0.3 * mw)
    clip = rendered["still_frames"][quiet, y0:y1, x0:x1].astype(np.float32)
    quiver = float(np.abs(np.diff(clip, axis=0)).mean())
    print(f"{rendered['name']}: mean frame-to-frame change in the mouth box during silence {quiver:.2f} grey levels")
    assert quiver < 1.0


def test_still_frames_stay_close_to_the_photo_outside_mouth_and_eyes(rendered):
    ref = rendered["reference"]
    keep = region_mask(rendered["ref_points"], ref.shape[:2])
    # Every 8th frame plus the frame with the widest mouth (SSIM at 512x512 costs ~0.25 s a frame).
    frames = rendered["still_frames"]
    picks = sorted(set(range(0, len(frames), 8)) | {int(np.nanargmax(rendered["openings"]))})
    pairs = [masked_ssim(ref, frames[i], keep) for i in picks]
    scores, whole = [p[0] for p in pairs], [p[1] for p in pairs]
    print(f"\n{rendered['name']}: still mode SSIM outside mouth/jaw and eyes min {min(scores):.4f} "
          f"mean {np.mean(scores):.4f} ({keep.mean():.0%} of the frame, {len(picks)} frames); "
          f"whole frame min {min(whole):.4f}")
    assert min(scores) >= 0.9


def test_video_is_h264_aac_faststart_and_as_long_as_the_audio(rendered):
    for result in (rendered["moving"], rendered["still"]):
        info = probe(result.video_path)
        audio_s = rendered["audio"].duration_s
        streams = {s["codec_type"]: s for s in info["streams"]}
        assert streams["video"]["codec_name"] == "h264" and streams["video"]["pix_fmt"] == "yuv420p"
        assert streams["audio"]["codec_name"] == "aac"
        durations = [float(info["format"]["duration"]), float(streams["video"]["duration"]),
                     float(streams["audio"]["duration"])]
        print(f"\n{rendered['name']}: audio {audio_s:.3f} s, container/video/audio {durations} s")
        for d in durations:
            assert abs(d - audio_s) <= 1.0 / FPS
        data = result.video_path.read_bytes()
        assert data.find(b"moov") < data.find(b"mdat"), "moov atom must come first (faststart)"
        assert result.frames == len(rendered["frames"]) == round(audio_s * FPS)
        assert result.notes == []
