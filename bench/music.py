"""Music benchmark: time to make a 60 s song with sung vocals with the embedded engine (lyrics,
composition, FluidSynth stems, singing, mix and master), its real-time factor and the seconds of each
stage, next to the floor of FluidSynth rendering the same MIDI alone. Prints figures; asserts nothing.

    python bench/music.py [--style epic] [--seconds 60] [--repeat 3] [--json]

Goal (music issue): a 60 s song with vocals in at most 6 s on 2 cores (RTF 0.1).
The machine is shared, so each figure is the best (and the median) of --repeat runs, after one
warm-up song that loads the soundfont, the pronouncing dictionary and the singer.
Rendering and singing run at the same time, so their seconds overlap ("render_and_sing" is their wall
time together).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

STAGES = ("lyrics", "compose", "render", "sing", "render_and_sing", "mix")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--style", default="epic")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import pretty_midi

    from engines.music import render
    from engines.music.song import SongRequest, make_song

    req = SongRequest(theme="a knight returning home", title="Homecoming", music_style=args.style,
                      duration_s=args.seconds, seed=1)
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    res = make_song(req)  # warm-up: soundfont, dictionary, singer
    first = time.perf_counter() - t

    totals, floors, stages = [], [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        res = make_song(req)
        totals.append(time.perf_counter() - t)
        stages.append(res.metrics["seconds"])
        midi = pretty_midi.PrettyMIDI(io.BytesIO(res.midi_bytes))
        t = time.perf_counter()
        render.render_floor(midi)
        floors.append(time.perf_counter() - t)

    length = res.mix.duration_s
    best, med = min(totals), statistics.median(totals)
    per_stage = {k: {"best": round(min(s.get(k, 0.0) for s in stages), 3),
                     "median": round(statistics.median(s.get(k, 0.0) for s in stages), 3)} for k in STAGES}
    out = {
        "style": args.style, "song_s": round(length, 3), "runs": args.repeat,
        "first_call_s": round(first, 3),
        "song_s_best": round(best, 3), "song_s_median": round(med, 3),
        "rtf_best": round(best / length, 4), "rtf_median": round(med / length, 4),
        "stages_s": per_stage,
        "fluidsynth_floor_s_best": round(min(floors), 3),
        "fluidsynth_floor_s_median": round(statistics.median(floors), 3),
        "lufs": res.metrics["lufs"], "true_peak_dbtp": res.metrics["true_peak_dbtp"],
        "cores": os.cpu_count(),
        "load_average_1min_before": round(load_before, 2), "load_average_1min_after": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"music, embedded engine: a {length:.0f} s {args.style} song with vocals ({os.cpu_count()} cores, "
          f"{args.repeat} runs)")
    print(f"  first call (soundfont + dictionary + singer load, one song): {first:.2f} s")
    print(f"  song:             best {best:.2f} s, median {med:.2f} s   (runs: {', '.join(f'{x:.2f}' for x in totals)})"
          f"   (goal <= 6 s)")
    print(f"  real-time factor: best {out['rtf_best']:.3f}, median {out['rtf_median']:.3f}   (goal <= 0.1)")
    print("  stages (s), best / median:")
    for k in STAGES:
        note = "  (wall time of the two, which run at the same time)" if k == "render_and_sing" else ""
        print(f"    {k:16s} {per_stage[k]['best']:6.2f} / {per_stage[k]['median']:6.2f}{note}")
    print(f"  FluidSynth floor (the same MIDI rendered alone): best {min(floors):.2f} s, median "
          f"{statistics.median(floors):.2f} s   (runs: {', '.join(f'{x:.2f}' for x in floors)})")
    print(f"  master: {out['lufs']:.2f} LUFS, {out['true_peak_dbtp']:.2f} dBTP   (target -14 LUFS, <= -1 dBTP)")
    print(f"  machine load average (1 min): {out['load_average_1min_before']} before, "
          f"{out['load_average_1min_after']} after (other work on a shared machine moves every figure)")


if __name__ == "__main__":
    main()
