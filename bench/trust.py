"""Watermark benchmark: is the mark found after what files go through, and never where it is not?

    python bench/trust.py [--clips 50] [--negatives 200] [--samples ../shared/samples]
                          [--video-clips 50] [--video-negatives 200] [--only audio|video|cost|stems]
                          [--cost-repeat 7] [--json]

Marked: CLIPS generated speeches (the Piper voice, 12-20 s of different sentences each), each with
its own random payload; every transformation of the issue is applied and a 10 s excerpt at a random
place is searched: MP3 128 kb/s, AAC 128 kb/s, resampled to 16 kHz, mono downmix, -6 dB. Prints the
share found with the right payload (goal at least 95 %), wrong payloads, and the watermark's level
below the signal (goal at least 30 dB). Unmarked: NEGATIVES 10 s excerpts of real recordings not made
here (the shared and test speakers, music and singing), at spread-out places: the share taken for
marked (goal at most 1 %).

Video: VIDEO_CLIPS clips of 3 s at 24 fps made by the studio's engines from the test portraits
(scene templates over a portrait or their own background, with and without visualisers, and Ken
Burns photo videos; 640x360, 512x512 and 480x640), each marked as it is encoded (as in a job) with
its own random payload, then through x264 CRF 28, scaling to 854x480, and a 10 % crop of width and
height at a random place (anything from all on one side to split between the sides). Prints the share
found with the right payload (goal at least 95 %), wrong payloads, PSNR of the marked video to the
unmarked one over every frame (goal at least 40 dB) and, for scale, the encoder's own loss, the
marking cost, and the share of VIDEO_NEGATIVES unmarked clips taken for marked (goal at most 1 %):
the engines' clips never marked (other seeds and sizes) and camera-like pans with noise over the
repository's images, three in four through one of the transformations.

Figures (2 cores, shared): found with the right payload after x264 CRF 28 100 %, 854x480 100 %,
10 % crop 96 % (two of 50 missed), never a wrong payload; the marked video 42.8 dB or more (median
43.0) from the unmarked one over every frame, measured on the frames the encoder is given (both
clips encoded losslessly). For scale, the encoder's own loss at CRF 20 is of the same size: the
unmarked file is 39.9 dB or more (median 41.9) from its own frames, and the marked file 39.4 dB or
more (median 40.3) from the unmarked file, the two encodes' losses counted with the mark. None of 200
unmarked clips taken for marked (highest pilot score 5.2 against 6.5); marking as encoded 0.07-0.13 ms
per 720p frame after about 0.02-0.07 s once (after the fact, decoding and encoding again: 0.17-0.27 s
per second of 640x360 video); detection 1.1-2.3 s per clip.

Cost (--only cost, not run by default): what the marks add to whole jobs. A 60 s song (embedded engine,
its mix, MP3 and one FLAC per stem all marked, every sound file signed) and, for reference, speech
(the Voice workflow, one WAV), each made COST_REPEAT times with the marks off and on, alternating,
after one warm-up of each; prints the medians of the wall time and of the CPU time (this process and
its ffmpeg children: less moved by other work on a shared machine), and the seconds the marked jobs
spent marking their sound files and signing their manifests, in the threads that did it. Compare the
medians, not single runs.

Stems (--only stems, not run by default): is a song's stem found alone? Songs of 40 s in three styles;
every stem and the mix marked with its own payload, each transformation applied to the whole file, then
10 s excerpts every 5 s searched. Prints, per stem, its share of energy between 3 and 7.5 kHz (where the
mark lives) and how many excerpts gave the right payload among those where the stem sounds (its level in
the excerpt no more than 20 dB below its level over the song) and among the others.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

SENTENCES = [
    "The harbour lights came on one by one as the fishing boats returned.",
    "Nobody on the pier said a word while the last boat turned toward the lamp.",
    "Then the bell rang twice, and the whole town seemed to breathe again.",
    "By morning the storm had passed, and the gulls were back on the harbour wall.",
    "She packed a small bag, a map and a flask of tea before the sun came up.",
    "The old library smelled of dust, varnish and a hundred years of quiet reading.",
    "Our team met every Friday to plan the next week's experiments in the lab.",
    "A red kite circled above the valley, riding the warm air without a single beat.",
    "He counted the steps to the top of the tower and lost track after three hundred.",
    "The recipe calls for two cups of flour, a pinch of salt and patience.",
]
KEY = b"bench key"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=50)
    ap.add_argument("--negatives", type=int, default=200)
    ap.add_argument("--samples", type=Path, default=ROOT.parent / "shared" / "samples")
    ap.add_argument("--video-clips", type=int, default=50)
    ap.add_argument("--video-negatives", type=int, default=200)
    ap.add_argument("--only", choices=("audio", "video", "cost", "stems"), default=None, help="run one section")
    ap.add_argument("--cost-repeat", type=int, default=7, help="jobs of each kind with marks off and on")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    report: dict = {}
    if args.only in (None, "audio"):
        report["audio"] = audio_section(args)
    if args.only in (None, "video"):
        report["video"] = video_section(args)
    if args.only == "cost":
        report["cost"] = cost_section(args)
    if args.only == "stems":
        report["stems"] = stems_section(args)
    if args.json:
        print(json.dumps(report, indent=1))
    return report


def _transforms() -> dict:
    """The issue's transformations of a whole file (Audio -> Audio)."""
    import numpy as np

    from core.audio import Audio

    def ffmpeg(audio: Audio, codec_args: list[str], ext: str) -> Audio:
        with tempfile.TemporaryDirectory() as d:
            src, coded, back = Path(d) / "in.wav", Path(d) / f"coded{ext}", Path(d) / "back.wav"
            audio.write(src)
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *codec_args, str(coded)], check=True)
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(coded), str(back)], check=True)
            return Audio.read(back)

    return {
        "mp3 128k": lambda a: ffmpeg(a, ["-b:a", "128k"], ".mp3"),
        "aac 128k": lambda a: ffmpeg(a, ["-c:a", "aac", "-b:a", "128k"], ".m4a"),
        "16 kHz": lambda a: a.resampled(16_000),
        "mono": lambda a: a.mono(),
        "-6 dB": lambda a: Audio((a.samples * 0.5).astype(np.float32), a.sample_rate),
    }


def _excerpt(a, start: float, seconds: float = 10.0):
    import numpy as np

    from core.audio import Audio

    i = int(start * a.sample_rate)
    return Audio(np.ascontiguousarray(a.samples[i:i + int(seconds * a.sample_rate)]), a.sample_rate)


def audio_section(args) -> dict:

    import numpy as np

    from core.audio import Audio
    from engines.trust import watermark
    from engines.voice import piper

    voice = piper.find_voice()
    rng = np.random.default_rng(2026)
    transforms = _transforms()
    excerpt = _excerpt

    report: dict = {"clips": args.clips, "transforms": {}, "snr_db": [], "embed_s_per_audio_s": [],
                    "detect_s": []}
    found = {k: 0 for k in transforms}
    wrong = {k: 0 for k in transforms}
    for i in range(args.clips):
        order = rng.permutation(len(SENTENCES))[:4]
        speech = piper.synthesize(" ".join(SENTENCES[j] for j in order), voice,
                                  noise_scale=float(rng.uniform(0.4, 0.7)))
        if i % 2:  # half of them stereo at 44.1 kHz, as songs and videos are
            up = speech.resampled(44_100).samples
            speech = Audio(np.stack([up, np.roll(up, 5)], axis=1), 44_100)
        payload = int(rng.integers(0, 2 ** watermark.PAYLOAD_BITS))
        t0 = time.perf_counter()
        marked = watermark.embed(speech, payload, KEY)
        report["embed_s_per_audio_s"].append((time.perf_counter() - t0) / speech.duration_s)
        x, y = speech.samples.astype(np.float64), marked.samples.astype(np.float64)
        report["snr_db"].append(float(10 * np.log10(np.sum(x ** 2) / np.sum((y - x) ** 2))))
        for name, fn in transforms.items():
            start = float(rng.uniform(0.0, max(0.0, speech.duration_s - 10.0)))
            t0 = time.perf_counter()
            got = watermark.detect(excerpt(fn(marked), start), KEY)
            report["detect_s"].append(time.perf_counter() - t0)
            found[name] += int(got.found and got.payload == payload)
            wrong[name] += int(got.found and got.payload != payload)
    for name in transforms:
        report["transforms"][name] = {"found": found[name] / args.clips, "wrong_payload": wrong[name]}

    # Unmarked real recordings: every file of the shared and test sets, joined per folder, excerpts
    # spread over them.
    folders = []
    for base in (args.samples / "voices", ROOT / "tests" / "data" / "voices"):
        if base.is_dir():
            folders += [p for p in sorted(base.iterdir()) if p.is_dir()]
    pieces = []
    for folder in folders:
        files = sorted(p for p in folder.iterdir() if p.suffix in (".wav", ".flac"))
        if files:
            pieces.append(Audio.concat([Audio.read(p).mono().resampled(22_050) for p in files]))
    pieces += [Audio.read(p) for p in sorted((ROOT / "tests" / "data" / "nonspeech").glob("*.flac"))]
    pieces = [p for p in pieces if p.duration_s >= 10.0]
    false_found, zs = 0, []
    for k in range(args.negatives):
        a = pieces[k % len(pieces)]
        start = float(rng.uniform(0.0, a.duration_s - 10.0))
        got = watermark.detect(excerpt(a, start), KEY)
        false_found += int(got.found)
        zs.append(got.confidence)
    report["negatives"] = {"excerpts": args.negatives, "recordings": len(pieces), "false_found": false_found,
                           "max_confidence": max(zs), "threshold": watermark.MIN_PILOT_Z}

    print(f"audio watermark ({watermark.PAYLOAD_BITS}-bit payload), {args.clips} generated speeches, 10 s excerpts:")
    for name, r in report["transforms"].items():
        print(f"  {name:9s} found with the right payload {100 * r['found']:5.1f} %, "
              f"wrong payload {r['wrong_payload']}")
    snr = report["snr_db"]
    print(f"  watermark below the signal: min {min(snr):.1f} dB, median {statistics.median(snr):.1f} dB (goal >= 30)")
    print(f"  embedding {statistics.median(report['embed_s_per_audio_s']) * 1000:.1f} ms per second of audio, "
          f"detection {statistics.median(report['detect_s']):.2f} s per excerpt")
    n = report["negatives"]
    print(f"  unmarked real audio: {n['false_found']} of {n['excerpts']} excerpts ({n['recordings']} recordings) "
          f"taken for marked; highest pilot score {n['max_confidence']:.1f} (threshold {n['threshold']})")
    return report


VIDEO_TEMPLATES = ("epic_battle", "sacred_temple", "emotional_closeup", "plain_dark")
VIDEO_SIZES = ("640x360", "512x512", "640x360", "480x640")
VIDEO_S, VIDEO_FPS = 3.0, 24
PORTRAITS = ROOT / "tests" / "data" / "portraits"


def _tone(seconds: float, rng):
    import numpy as np

    from core.audio import Audio

    sr = 22_050
    t = np.arange(int(sr * seconds)) / sr
    f0, wobble = float(rng.uniform(110, 440)), float(rng.uniform(0.5, 3.0))
    x = 0.2 * np.sin(2 * np.pi * f0 * t) * (1 + 0.6 * np.sin(2 * np.pi * wobble * t))
    return Audio((x + 0.02 * rng.standard_normal(len(t))).astype(np.float32), sr)


def _generated(path: Path, k: int, rng, seconds: float = VIDEO_S) -> str:
    """A clip by the studio's video engines: a scene template over a portrait (or its own background),
    with or without a visualiser, or the portraits as a Ken Burns photo video. Returns what it is."""
    from engines.video.photos import ImageToVideoRequest, image_to_video
    from engines.video.scene_video import SceneVideoRequest, render_scene_video

    portraits = sorted(PORTRAITS.glob("*.png"))
    size = VIDEO_SIZES[k % len(VIDEO_SIZES)]
    if k % 5 == 4:
        images = [portraits[k % 2], portraits[(k + 1) % 2]]
        image_to_video(ImageToVideoRequest(images=images, audio=_tone(seconds, rng), size=size, fps=VIDEO_FPS), path)
        return f"photos {size}"
    template = VIDEO_TEMPLATES[k % len(VIDEO_TEMPLATES)]
    choice = (k // 4) % 3
    images = [portraits[0]] if choice == 0 else [portraits[1]] if choice == 1 else None
    visualiser = (None, "bars", "waveform", "circle")[(k // 3) % 4]
    render_scene_video(SceneVideoRequest(audio=_tone(seconds, rng), template=template, images=images, size=size,
                                         fps=VIDEO_FPS, visualiser=visualiser, seed=k), path)
    return f"{template} {size}"


@contextmanager
def _lossless():
    """The studio's encoder made lossless (x264 at CRF 0 keeps an 8-bit picture exactly): its files then
    hold the very frames it was given."""
    from engines.video import encode

    crf, encode.CRF = encode.CRF, 0
    try:
        yield
    finally:
        encode.CRF = crf


def _crf() -> int:
    from engines.video import encode

    return encode.CRF


def _pan(path: Path, k: int, rng, seconds: float = 2.0) -> str:
    """A camera-like clip of a repository image (not made by the studio's engines): a slow pan and
    zoom over a portrait with sensor noise, encoded by ffmpeg's x264."""
    import subprocess

    import cv2
    import numpy as np

    img = cv2.imread(str(sorted(PORTRAITS.glob("*.png"))[k % 2]), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    ow, oh = (640, 360) if k % 2 else (480, 480)
    n = int(seconds * 25)
    z0, z1 = rng.uniform(0.5, 0.9, 2)
    x0, y0, x1, y1 = rng.uniform(0, 1, 4)
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{ow}x{oh}", "-r", "25",
           "-i", "pipe:0", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    for i in range(n):
        u = i / max(n - 1, 1)
        z = z0 + (z1 - z0) * u
        cw = min(w, int(w * z))
        ch = min(h, int(cw * oh / ow))
        cx = int((x0 + (x1 - x0) * u) * (w - cw))
        cy = int((y0 + (y1 - y0) * u) * (h - ch))
        frame = cv2.resize(img[cy:cy + ch, cx:cx + cw], (ow, oh), interpolation=cv2.INTER_AREA).astype(np.float32)
        frame += rng.normal(0, 2.0, frame.shape)
        proc.stdin.write(np.clip(frame, 0, 255).astype(np.uint8).tobytes())
    proc.stdin.close()
    proc.wait()
    return "pan"


def video_section(args) -> dict:
    """Video watermark: generated clips marked as they are encoded (as in a job), each transformed;
    unmarked clips for false positives."""
    import shutil
    import subprocess

    import numpy as np

    from engines.trust import video_watermark as vw

    rng = np.random.default_rng(2027)
    work = Path(tempfile.mkdtemp(prefix="bench-vwm-"))

    def ffmpeg(src: Path, dst: Path, *a: str) -> Path:
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *a, "-an", str(dst)], check=True)
        return dst

    def luma(path: Path) -> np.ndarray:
        return np.frombuffer(subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt",
                                             "gray", "pipe:1"], capture_output=True, check=True).stdout, np.uint8)

    def crop(_k: int) -> list[str]:
        left, top = float(rng.uniform(0, 0.1)), float(rng.uniform(0, 0.1))
        return ["-vf", f"crop=iw*0.9:ih*0.9:iw*{left:.4f}:ih*{top:.4f}", "-c:v", "libx264", "-preset", "veryfast"]

    transforms = {
        "x264 CRF 28": lambda _k: ["-c:v", "libx264", "-preset", "veryfast", "-crf", "28"],
        "854x480": lambda _k: ["-vf", "scale=854:480", "-c:v", "libx264", "-preset", "veryfast"],
        "10 % crop": crop,
    }
    found = {k: 0 for k in transforms}
    wrong = {k: 0 for k in transforms}
    zs: dict[str, list[float]] = {k: [] for k in transforms}
    rep: dict = {"clips": args.video_clips, "psnr_file_db": [], "psnr_mark_db": [], "psnr_codec_db": [],
                 "mark_file_s_per_video_s": [], "detect_s": [], "kinds": []}
    for k in range(args.video_clips):
        payload = int(rng.integers(0, 2 ** vw.PAYLOAD_BITS))
        plain, marked = work / "plain.mp4", work / "marked.mp4"
        seed = int(rng.integers(0, 2 ** 31))
        rep["kinds"].append(_generated(plain, k, np.random.default_rng(seed)))
        with vw.marking_encodes(payload, KEY):
            _generated(marked, k, np.random.default_rng(seed))
        a, b = luma(plain), luma(marked)
        rep["psnr_file_db"].append(vw.psnr(a, b))
        # The frames the encoder was given, unmarked and marked: the same clip encoded losslessly.
        with _lossless():
            _generated(work / "plain-frames.mp4", k, np.random.default_rng(seed))
            with vw.marking_encodes(payload, KEY):
                _generated(work / "marked-frames.mp4", k, np.random.default_rng(seed))
        y, y_marked = luma(work / "plain-frames.mp4"), luma(work / "marked-frames.mp4")
        rep["psnr_mark_db"].append(vw.psnr(y, y_marked))
        rep["psnr_codec_db"].append(vw.psnr(y, a))
        t0 = time.perf_counter()
        vw.mark_file(plain, work / "after.mp4", payload, KEY)
        rep["mark_file_s_per_video_s"].append((time.perf_counter() - t0) / VIDEO_S)
        for name, fn in transforms.items():
            t0 = time.perf_counter()
            got = vw.read_file(ffmpeg(marked, work / "t.mp4", *fn(k)), KEY)
            rep["detect_s"].append(time.perf_counter() - t0)
            found[name] += int(got.found and got.payload == payload)
            wrong[name] += int(got.found and got.payload != payload)
            zs[name].append(got.confidence)
    rep["transforms"] = {n: {"found": found[n] / max(args.video_clips, 1), "wrong_payload": wrong[n],
                             "min_confidence": min(zs[n]) if zs[n] else None} for n in transforms}

    # Encoding-time cost on a 720p frame: the mark made once per video, then added to every frame.
    y720 = np.random.default_rng(1).integers(16, 235, (720, 1280), dtype=np.uint8)
    t0 = time.perf_counter()
    marker = vw.Marker(720, 1280, 1, KEY, host=y720)
    rep["encode_marker_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(100):
        marker.apply(y720)
    rep["encode_apply_ms_per_frame"] = (time.perf_counter() - t0) * 10

    # Unmarked clips: the engines' own clips never marked (other seeds), and camera-like pans over the
    # repository's images; three in four through one of the transformations.
    false_found, nz = 0, []
    for k in range(args.video_negatives):
        clip = work / "neg.mp4"
        sub = np.random.default_rng(10_000 + k)
        if k % 3 == 2:
            _pan(clip, k, sub)
        else:
            _generated(clip, 1000 + k, sub, seconds=2.0)
        pick = k % 4
        if pick < 3:
            clip = ffmpeg(clip, work / "neg-t.mp4", *list(transforms.values())[pick](k))
        got = vw.read_file(clip, KEY)
        false_found += int(got.found)
        nz.append(got.confidence)
    rep["negatives"] = {"clips": args.video_negatives, "false_found": false_found,
                        "max_confidence": max(nz) if nz else None, "threshold": vw.MIN_PILOT_Z}
    shutil.rmtree(work, ignore_errors=True)

    print(f"video watermark ({vw.PAYLOAD_BITS}-bit payload), {args.video_clips} generated clips "
          f"({VIDEO_S:.0f} s, {VIDEO_FPS} fps, marked as they are encoded):")
    for name, r in rep["transforms"].items():
        print(f"  {name:12s} found with the right payload {100 * r['found']:5.1f} %, wrong payload "
              f"{r['wrong_payload']}, lowest pilot score {r['min_confidence']:.1f}")
    pm, pf, pc = rep["psnr_mark_db"], rep["psnr_file_db"], rep["psnr_codec_db"]
    if pf:
        print(f"  PSNR of the marked video to the unmarked one, every frame (the mark alone): min {min(pm):.1f} dB, "
              f"median {statistics.median(pm):.1f} dB (goal >= 40)")
        print(f"  for scale, the encoder (CRF {_crf()}): the unmarked file to its own frames min {min(pc):.1f} dB, "
              f"median {statistics.median(pc):.1f} dB; the marked file to the unmarked file min {min(pf):.1f} dB, "
              f"median {statistics.median(pf):.1f} dB")
        print(f"  detection {statistics.median(rep['detect_s']):.2f} s per clip; marking after the fact (decode "
              f"and encode again) {statistics.median(rep['mark_file_s_per_video_s']):.2f} s per second of video")
    print(f"  marking as encoded, 720p: {rep['encode_marker_s'] * 1000:.0f} ms once, "
          f"{rep['encode_apply_ms_per_frame']:.2f} ms per frame")
    n = rep["negatives"]
    if n["clips"]:
        print(f"  unmarked clips: {n['false_found']} of {n['clips']} taken for marked; highest pilot score "
              f"{n['max_confidence']:.1f} (threshold {n['threshold']})")
    return rep


STEM_STYLES = ("epic", "pop", "dark")


def stems_section(args) -> dict:
    """Each stem of songs in STEM_STYLES marked alone, transformed, searched in 10 s excerpts (see the docstring)."""
    import numpy as np

    from engines.music.song import SongRequest, make_song
    from engines.trust import watermark

    rng = np.random.default_rng(2028)
    transforms = _transforms()
    rows = []
    for style in STEM_STYLES:
        song = make_song(SongRequest(theme="a knight returning home", title="Homecoming", music_style=style,
                                     duration_s=40, seed=2))
        for name, audio in {"mix": song.mix, **song.stems}.items():
            payload = int(rng.integers(0, 2 ** watermark.PAYLOAD_BITS))
            marked = watermark.embed(audio, payload, KEY)
            mono = audio.mono().samples.astype(np.float64)
            spec = np.abs(np.fft.rfft(mono)) ** 2
            freq = np.fft.rfftfreq(len(mono), 1.0 / audio.sample_rate)
            share = float(spec[(freq >= 3000) & (freq < 7500)].sum() / max(spec.sum(), 1e-30))
            starts = np.arange(0.0, audio.duration_s - 10.0 + 1e-9, 5.0)
            whole = float(np.mean(mono ** 2)) + 1e-30
            sounding = [float(np.mean(_excerpt(audio, float(t)).mono().samples.astype(np.float64) ** 2)) >= whole / 100
                        for t in starts]
            found = {True: [0, 0], False: [0, 0]}  # sounding -> [found, excerpts]
            for fn in transforms.values():
                changed = fn(marked)
                for t, on in zip(starts, sounding):
                    got = watermark.detect(_excerpt(changed, float(t)), KEY)
                    found[on][0] += int(got.found and got.payload == payload)
                    found[on][1] += 1
            rows.append({"style": style, "stem": name, "band_share": share, "found_sounding": found[True],
                         "found_quiet": found[False]})
    print(f"stems marked alone: 40 s songs, {len(transforms)} transformations x 10 s excerpts every 5 s "
          "(found with the right payload / excerpts):")
    for r in rows:
        (fs, ns), (fq, nq) = r["found_sounding"], r["found_quiet"]
        quiet = f", where it is mostly silent {fq}/{nq}" if nq else ""
        print(f"  {r['style']:5s} {r['stem']:9s} {100 * r['band_share']:6.3f} % of its energy at 3-7.5 kHz: "
              f"where it sounds {fs}/{ns}{quiet}")
    return {"rows": rows}


SONG = {"theme": "a knight returning home", "title": "Homecoming", "music_style": "epic", "duration_s": 60,
        "seed": 1}
SPEECH = " ".join(SENTENCES[:4])


def _cpu_s() -> float:
    """CPU seconds of this process and of the children it waited for (ffmpeg), user and system."""
    import resource

    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def cost_section(args) -> dict:
    """Whole jobs through the studio's workflows, the marks off and on, alternating (see the docstring)."""
    import functools
    import logging
    import os
    import shutil
    from collections import defaultdict

    from engines.trust import credentials, watermark
    from services import build_services
    from settings import Settings

    logging.getLogger("workflows.trust").setLevel(logging.ERROR)  # the new test key and chain
    data = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    spent: dict[str, list[float]] = defaultdict(list)

    def timed(fn, label):
        @functools.wraps(fn)
        def run(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[label].append(time.perf_counter() - t0)
        return run

    # CPU seconds of the marking and signing, summed over threads (they overlap other work).
    embed, sign = watermark.embed, credentials.sign
    watermark.embed, credentials.sign = timed(embed, "mark"), timed(sign, "sign")
    try:
        services = build_services(Settings(data_dir=data))
        marks = services.jobs.mark_outputs
        jobs = {"song": lambda: services.music.compose(**SONG), "speech": lambda: services.voices.speak(SPEECH)}
        times: dict[tuple[str, bool], list[float]] = defaultdict(list)
        cpu: dict[tuple[str, bool], list[float]] = defaultdict(list)
        work: dict[str, list[tuple[float, float]]] = defaultdict(list)
        load = os.getloadavg()[0]
        for rep in range(args.cost_repeat + 1):
            for kind, job in jobs.items():
                for on in ((False, True) if rep % 2 else (True, False)):
                    services.jobs.mark_outputs = marks if on else None
                    spent.clear()
                    c0, t0 = _cpu_s(), time.perf_counter()
                    job()
                    if rep:  # the first round warms up (soundfont, dictionary, voice)
                        times[kind, on].append(time.perf_counter() - t0)
                        cpu[kind, on].append(_cpu_s() - c0)
                        if on:
                            work[kind].append((sum(spent["mark"]), sum(spent["sign"])))
    finally:
        watermark.embed, credentials.sign = embed, sign
        shutil.rmtree(data, ignore_errors=True)
    out: dict = {"repeat": args.cost_repeat, "load_average_1min": [round(load, 2), round(os.getloadavg()[0], 2)]}
    print(f"cost of the marks on whole jobs ({os.cpu_count()} cores, shared machine; {args.cost_repeat} runs each, "
          "marks off and on alternating, medians):")
    for kind in jobs:
        off, on = statistics.median(times[kind, False]), statistics.median(times[kind, True])
        mark_s = statistics.median(m for m, _ in work[kind])
        sign_s = statistics.median(s for _, s in work[kind])
        cpu_off, cpu_on = statistics.median(cpu[kind, False]), statistics.median(cpu[kind, True])
        out[kind] = {"off_s": off, "on_s": on, "extra": on / off - 1, "off_runs": times[kind, False],
                     "on_runs": times[kind, True], "cpu_off_s": cpu_off, "cpu_on_s": cpu_on,
                     "mark_thread_s": mark_s, "sign_thread_s": sign_s}
        label = "60 s song (mix, MP3, stems)" if kind == "song" else f"speech ({len(SPEECH)} characters)"
        print(f"  {label:28s} marks off {off:5.2f} s, on {on:5.2f} s: {100 * (on / off - 1):+5.1f} %;  CPU "
              f"{cpu_off:5.2f} s -> {cpu_on:5.2f} s ({100 * (cpu_on / cpu_off - 1):+5.1f} %)")
        print(f"  {'':28s} marking {mark_s:.2f} s and signing {sign_s:.2f} s in their threads, partly alongside "
              "the job's own work")
    print(f"  machine load average (1 min): {out['load_average_1min'][0]} before, {out['load_average_1min'][1]} after")
    return out


if __name__ == "__main__":
    main()
