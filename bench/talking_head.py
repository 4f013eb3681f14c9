"""Talking-head benchmark: time to render 10 s of speech at 512x512, 25 fps, with the embedded
engine, its real-time factor, and its ratio to the floor of only encoding the same frames (same
ffmpeg settings, same audio). Prints figures; asserts nothing.

    python bench/talking_head.py [--samples ../shared/samples] [--repeat 3] [--json]

Goals (talking-head issue): RTF at most 0.5 on 2 cores, and at most 1.5x the encode-only floor.
The machine is shared, so each figure is the best (and the median) of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")
os.environ.setdefault("GLOG_minloglevel", "2")

from bench.common import encode_floor, speech  # noqa: E402

SECONDS = 10.0
FPS = 25


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, default=ROOT.parent / "shared" / "samples")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from engines.talking_head import TalkingHeadRequest, render_talking_head

    portrait = args.samples / "portraits" / "art_1.png"  # 512x512: the full photo is the 512x512 frame
    audio = speech(args.samples, SECONDS)
    tmp = Path(tempfile.mkdtemp(prefix="bench_th_"))
    out: dict = {"portrait": portrait.name, "audio_s": round(audio.duration_s, 3), "fps": FPS, "size": "512x512"}

    # First call: imports MediaPipe/OpenCV and loads FaceMesh (once per process).
    t = time.perf_counter()
    r = render_talking_head(TalkingHeadRequest(portrait, _clip(audio, 1.0), output_path=tmp / "warm.mp4"))
    out["first_call_1s_clip_s"] = round(time.perf_counter() - t, 3)

    renders, floors, stages = [], [], []
    for i in range(args.repeat):
        req = TalkingHeadRequest(portrait, audio, size=512, fps=FPS, output_path=tmp / f"render{i}.mp4")
        t = time.perf_counter()
        r = render_talking_head(req)
        renders.append(time.perf_counter() - t)
        stages.append(r.timings)
        floors.append(encode_floor(r.video_path, audio, FPS, tmp / f"floor{i}.mp4", profile="still"))  # as the engine
    assert (r.width, r.height) == (512, 512), (r.width, r.height)

    best, med = min(renders), statistics.median(renders)
    floor_best, floor_med = min(floors), statistics.median(floors)
    out.update({
        "frames": r.frames,
        "render_s_best": round(best, 3), "render_s_median": round(med, 3),
        "rtf_best": round(best / SECONDS, 3), "rtf_median": round(med / SECONDS, 3),
        "encode_floor_s_best": round(floor_best, 3), "encode_floor_s_median": round(floor_med, 3),
        "ratio_to_floor_best": round(best / floor_best, 2),
        "ratio_to_floor_median": round(statistics.median(r_ / f_ for r_, f_ in zip(renders, floors)), 2),
        "stages_s_last": {k: round(v, 3) for k, v in stages[-1].items()},
        "cores": os.cpu_count(),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    })
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"talking head, embedded engine: {SECONDS:.0f} s of speech -> {r.frames} frames of 512x512 at {FPS} fps "
          f"({os.cpu_count()} cores, {args.repeat} runs)")
    print(f"  first call (MediaPipe import + FaceMesh load + 1 s clip): {out['first_call_1s_clip_s']:.2f} s")
    print(f"  render:           best {best:.2f} s, median {med:.2f} s   "
          f"(runs: {', '.join(f'{x:.2f}' for x in renders)})")
    print(f"  real-time factor: best {out['rtf_best']:.3f}, median {out['rtf_median']:.3f}   (goal <= 0.5)")
    print(f"  encode-only floor: best {floor_best:.2f} s, median {floor_med:.2f} s   "
          f"(runs: {', '.join(f'{x:.2f}' for x in floors)})")
    print(f"  ratio to floor:   best/best {out['ratio_to_floor_best']:.2f}x, median of pairs "
          f"{out['ratio_to_floor_median']:.2f}x   (goal <= 1.5x)")
    print(f"  stages of the last render (s): {out['stages_s_last']}")
    print(f"  machine load average (1 min) after the runs: {out['load_average_1min_after']} "
          "(other work on a shared machine moves every figure)")


def _clip(audio, seconds: float):
    from core.audio import Audio

    return Audio(audio.samples[: int(seconds * audio.sample_rate)], audio.sample_rate)


if __name__ == "__main__":
    main()
