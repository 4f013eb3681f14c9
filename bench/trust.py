"""Watermark benchmark: is the mark found after what files go through, and never where it is not?

    python bench/trust.py [--clips 50] [--negatives 200] [--samples ../shared/samples] [--json]

Marked: CLIPS generated speeches (the Piper voice, 12-20 s of different sentences each), each with
its own random payload; every transformation of the issue is applied and a 10 s excerpt at a random
place is searched: MP3 128 kb/s, AAC 128 kb/s, resampled to 16 kHz, mono downmix, -6 dB. Prints the
share found with the right payload (goal at least 95 %), wrong payloads, and the watermark's level
below the signal (goal at least 30 dB). Unmarked: NEGATIVES 10 s excerpts of real recordings not made
here (the shared and test speakers, music and singing), at spread-out places: the share taken for
marked (goal at most 1 %). Prints figures; asserts nothing.
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
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import numpy as np

    from core.audio import Audio
    from engines.trust import watermark
    from engines.voice import piper

    voice = piper.find_voice()
    rng = np.random.default_rng(2026)

    def ffmpeg(audio: Audio, codec_args: list[str], ext: str) -> Audio:
        with tempfile.TemporaryDirectory() as d:
            src, coded, back = Path(d) / "in.wav", Path(d) / f"coded{ext}", Path(d) / "back.wav"
            audio.write(src)
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *codec_args, str(coded)], check=True)
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(coded), str(back)], check=True)
            return Audio.read(back)

    transforms = {
        "mp3 128k": lambda a: ffmpeg(a, ["-b:a", "128k"], ".mp3"),
        "aac 128k": lambda a: ffmpeg(a, ["-c:a", "aac", "-b:a", "128k"], ".m4a"),
        "16 kHz": lambda a: a.resampled(16_000),
        "mono": lambda a: a.mono(),
        "-6 dB": lambda a: Audio((a.samples * 0.5).astype(np.float32), a.sample_rate),
    }

    def excerpt(a: Audio, start: float) -> Audio:
        i = int(start * a.sample_rate)
        return Audio(np.ascontiguousarray(a.samples[i:i + int(10.0 * a.sample_rate)]), a.sample_rate)

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
    if args.json:
        print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
