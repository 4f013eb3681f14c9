"""Video benchmark: a 30 s 1280x720 30 fps scene video (epic_battle over a portrait, with lyric
captions) and a 10-photo 1920x1080 slideshow, each next to the floor of encoding that video's own
frames, all of them, again with the same writer and x264 settings (decoded beforehand, so nothing is
drawn or converted). Prints figures; asserts nothing.

    python bench/video.py [--samples ../shared/samples] [--repeat 2] [--json]

Goals (video issue): scene video real-time factor at most 0.5 on 2 cores, and at most 1.5x its floor;
the same figures for the slideshow.
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

SCENE_S, SCENE_SIZE, FPS = 30.0, (1280, 720), 30
PHOTOS, PHOTO_S, PHOTO_SIZE = 10, 4.0, (1920, 1080)


class Meter:
    """Wall seconds, CPU seconds of this process and its children (ffmpeg), and the machine's steal
    time (CPU the hypervisor gave to other guests: it inflates wall time on a shared machine)."""

    def __enter__(self) -> Meter:
        self.t, self.cpu, self.steal = time.perf_counter(), _cpu_s(), _steal_s()
        return self

    def __exit__(self, *exc) -> None:
        self.wall_s = time.perf_counter() - self.t
        self.cpu_s = _cpu_s() - self.cpu
        self.steal_s = _steal_s() - self.steal


def _cpu_s() -> float:
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _steal_s() -> float:
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def photos(samples: Path, folder: Path) -> list[Path]:
    """Ten different photos made from the two sample portraits (crops, mirror images, tints)."""
    from PIL import Image, ImageOps

    out = []
    srcs = [Image.open(p).convert("RGB") for p in sorted((samples / "portraits").glob("*.png"))]
    for i in range(PHOTOS):
        img = srcs[i % len(srcs)]
        w, h = img.size
        k = i // len(srcs)
        img = img.crop((k * w // 20, k * h // 25, w - k * w // 30, h))
        if k % 2:
            img = ImageOps.mirror(img)
        tint = Image.new("RGB", img.size, ((40 * k) % 255, 80, (200 - 30 * k) % 255))
        img = Image.blend(img, tint, 0.08 * k).resize((img.width * 2, img.height * 2))
        out.append(folder / f"photo{i}.jpg")
        img.save(out[-1], quality=92)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=Path, default=ROOT.parent / "shared" / "samples")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from engines.video.beats import analyse_audio
    from engines.video.photos import ImageToVideoRequest, image_to_video
    from engines.video.scene_video import SceneVideoRequest, render_scene_video

    tmp = Path(tempfile.mkdtemp(prefix="bench_video_"))
    track = speech(args.samples, SCENE_S)
    lrc = "\n".join(f"[00:{s:02d}.00]Line number {i + 1} of the captions" for i, s in enumerate(range(0, 30, 4)))
    portrait = args.samples / "portraits" / "art_0.png"
    t = time.perf_counter()
    analyse_audio(track, FPS)  # librosa's one-off start-up, paid once per process
    warm = time.perf_counter() - t

    scene, scene_floor, scene_meters = [], [], []
    for i in range(args.repeat):
        req = SceneVideoRequest(audio=track, template="epic_battle", images=[portrait], captions=lrc,
                                size=f"{SCENE_SIZE[0]}x{SCENE_SIZE[1]}", fps=FPS)
        with Meter() as m:
            res = render_scene_video(req, tmp / f"scene{i}.mp4")
        scene.append(m.wall_s)
        scene_meters.append(m)
        scene_floor.append(encode_floor(res.path, track, FPS, tmp / f"scene_floor{i}.mp4"))

    pics = photos(args.samples, tmp)
    show_audio = speech(args.samples, PHOTOS * PHOTO_S)
    show, show_floor, show_meters = [], [], []
    for i in range(args.repeat):
        req = ImageToVideoRequest(images=pics, audio=show_audio, size=f"{PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}", fps=FPS)
        with Meter() as m:
            res2 = image_to_video(req, tmp / f"photos{i}.mp4")
        show.append(m.wall_s)
        show_meters.append(m)
        show_floor.append(encode_floor(res2.path, show_audio, FPS, tmp / f"photos_floor{i}.mp4"))

    def figures(runs: list[float], floors: list[float], meters: list[Meter], seconds: float, path: Path) -> dict:
        best = meters[runs.index(min(runs))]
        return {"s_best": round(min(runs), 2), "s_median": round(statistics.median(runs), 2),
                "rtf_best": round(min(runs) / seconds, 3), "floor_s_best": round(min(floors), 2),
                "ratio_to_floor_median": round(statistics.median(r / f for r, f in zip(runs, floors)), 2),
                "cpu_s_best_run": round(best.cpu_s, 2), "steal_s_best_run": round(best.steal_s, 2),
                "mbit_s": round(path.stat().st_size * 8 / 1e6 / seconds, 2)}

    out = {"librosa_warm_up_s": round(warm, 2),
           "scene_720p30_30s": {**figures(scene, scene_floor, scene_meters, SCENE_S, res.path), "frames": res.frames},
           "photos_1080p30_10": {**figures(show, show_floor, show_meters, PHOTOS * PHOTO_S, res2.path),
                                 "frames": res2.frames},
           "cores": os.cpu_count(), "load_average_1min_after": round(os.getloadavg()[0], 2)}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    s, p = out["scene_720p30_30s"], out["photos_1080p30_10"]
    print(f"video benchmark ({os.cpu_count()} cores, {args.repeat} runs each; librosa start-up {warm:.1f} s once)")
    print(f"  scene video, epic_battle over a portrait with captions, {SCENE_S:.0f} s 1280x720 30 fps "
          f"({s['frames']} frames):")
    print(f"    render: best {s['s_best']:.2f} s, median {s['s_median']:.2f} s; RTF {s['rtf_best']:.3f} (goal <= 0.5)")
    print(f"    best run: {s['cpu_s_best_run']:.1f} CPU s (app + ffmpeg), {s['steal_s_best_run']:.1f} s stolen by the "
          f"host; {s['mbit_s']:.1f} Mbit/s")
    print(f"    encode-only floor: best {s['floor_s_best']:.2f} s; ratio to floor (median of pairs) "
          f"{s['ratio_to_floor_median']:.2f}x (goal <= 1.5x)")
    print(f"  slideshow, {PHOTOS} photos, {PHOTOS * PHOTO_S:.0f} s 1920x1080 30 fps ({p['frames']} frames):")
    print(f"    render: best {p['s_best']:.2f} s, median {p['s_median']:.2f} s; RTF {p['rtf_best']:.3f}")
    print(f"    best run: {p['cpu_s_best_run']:.1f} CPU s (app + ffmpeg), {p['steal_s_best_run']:.1f} s stolen by the "
          f"host; {p['mbit_s']:.1f} Mbit/s")
    print(f"    encode-only floor: best {p['floor_s_best']:.2f} s; ratio to floor (median of pairs) "
          f"{p['ratio_to_floor_median']:.2f}x (goal <= 1.5x)")
    print(f"  machine load average (1 min) after the runs: {out['load_average_1min_after']} "
          "(other work on a shared machine moves every figure)")


if __name__ == "__main__":
    main()
