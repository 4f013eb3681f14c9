"""Media on S3-compatible storage against the local folder: what a job and a download cost more.

Starts moto's S3 server on 127.0.0.1 (from .venv-s3, `make setup-dev`) and two apps (`python app.py`,
fresh temporary DATA_DIRs, free ports): one with its media in DATA_DIR/media, one with MEDIA_URL in a
bucket of that server.

First the stores alone, in this process: --files files of 400 kB (about 4 s of 48 kHz WAV) put into each
store in turn, then each read back with its local copy deleted (the S3 store downloads and checks it).
Then, alternating between the two apps (A/B, --rounds times, so the machine's other load falls on both
alike):
  * speak: /speak of one sentence, submit to the downloaded result (storing the output included);
  * export cold: /export_project of that project after its local cache copies were deleted (the S3 app
    fetches them from the bucket; the local app has no cache: the same export);
  * export warm: the same export again.
Prints medians and the per-round difference (S3 minus local); asserts nothing. The server is on this
machine, so the figures are the store's own overhead, not a network's.

    python bench/media.py [--files 40] [--rounds 7] [--stores-only]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import free_port, start_app  # noqa: E402

S3_SERVER = ROOT / ".venv-s3" / "bin" / "moto_server"
TEXT = "The lighthouse keeper counted the ships that passed the harbour before the storm."


def start_s3(tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(tmp / "moto.log", "wb") as log:
        proc = subprocess.Popen([str(S3_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/", timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the S3 server did not start")


def stores(tmp: Path, s3_url: str, n_files: int) -> None:
    from settings import Settings
    from storage.media import open_media_store

    local = open_media_store(Settings(data_dir=tmp / "stores" / "local"))
    s3 = open_media_store(Settings(data_dir=tmp / "stores" / "s3", media_url="s3://bench-media/stores",
                                   s3_endpoint_url=s3_url, s3_region="us-east-1", s3_access_key_id="k",
                                   s3_secret_access_key="s"))
    put: dict[str, list[float]] = {"local": [], "s3": []}
    read: dict[str, list[float]] = {"local": [], "s3": []}
    names = []
    for i in range(n_files):
        data = os.urandom(400_000)
        for name, store in (("local", local), ("s3", s3)) if i % 2 == 0 else (("s3", s3), ("local", local)):
            src = store.new_scratch_dir() / "out.wav"
            src.write_bytes(data)
            t = time.perf_counter()
            sha, _, _ = store.put(src, ".wav")
            put[name].append(time.perf_counter() - t)
        names.append(sha)
    for i, sha in enumerate(names):
        s3.cached_path(sha, ".wav").unlink()
        for name, store in (("local", local), ("s3", s3)) if i % 2 == 0 else (("s3", s3), ("local", local)):
            t = time.perf_counter()
            store.local_path(sha, ".wav").stat()
            read[name].append(time.perf_counter() - t)
    print(f"stores alone: {n_files} files of 400 kB, A/B interleaved, medians in milliseconds")
    for what, got in (("put", put), ("read, no local copy", read)):
        print(f"  {what:20s} local {1000 * statistics.median(got['local']):7.2f}   "
              f"s3 {1000 * statistics.median(got['s3']):7.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=40)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--stores-only", action="store_true", help="only the stores, no apps")
    args = p.parse_args()
    if not S3_SERVER.exists():
        raise SystemExit("moto's S3 server is not installed: make setup-dev (builds .venv-s3)")
    from gradio_client import Client

    tmp = Path(tempfile.mkdtemp(prefix="bench-media-"))
    procs = []
    try:
        s3, s3_url = start_s3(tmp)
        procs.append(s3)
        urllib.request.urlopen(urllib.request.Request(f"{s3_url}/bench-media", method="PUT")).close()
        stores(tmp, s3_url, args.files)
        if args.stores_only:
            return
        apps = {}
        for name, extra in (("local", {}), ("s3", {"MEDIA_URL": "s3://bench-media/studio", "S3_ENDPOINT_URL": s3_url,
                                                   "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "k",
                                                   "AWS_SECRET_ACCESS_KEY": "s"})):
            (tmp / name).mkdir()
            saved = {k: os.environ.get(k) for k in extra}
            os.environ.update(extra)
            try:
                proc, url = start_app(tmp / name)
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            procs.append(proc)
            client = Client(url, verbose=False, download_files=str(tmp / name / "downloads"))
            project = client.predict(name="bench", api_name="/create_project")["id"]
            client.predict(text="Warm up.", project_id=project, api_name="/speak")  # first-call costs
            apps[name] = (client, project, tmp / name / "data")

        times: dict[str, dict[str, list[float]]] = {n: {"speak": [], "export cold": [], "export warm": []}
                                                    for n in apps}
        for r in range(args.rounds):
            for name in (("local", "s3") if r % 2 == 0 else ("s3", "local")):
                client, project, data = apps[name]
                t = time.perf_counter()
                client.predict(text=TEXT, project_id=project, api_name="/speak")
                times[name]["speak"].append(time.perf_counter() - t)
                shutil.rmtree(data / "media-cache", ignore_errors=True)
                for what in ("export cold", "export warm"):
                    t = time.perf_counter()
                    client.predict(project_id=project, api_name="/export_project")
                    times[name][what].append(time.perf_counter() - t)

        print(f"media store: local folder vs S3 (moto on 127.0.0.1), {args.rounds} rounds A/B interleaved, "
              "medians in seconds")
        print(f"{'':14s}{'local':>8s}{'s3':>8s}{'s3 - local (median of rounds)':>32s}")
        for what in ("speak", "export cold", "export warm"):
            a, b = times["local"][what], times["s3"][what]
            diff = statistics.median(y - x for x, y in zip(a, b))
            print(f"{what:14s}{statistics.median(a):8.3f}{statistics.median(b):8.3f}{diff:+32.3f}")
        print("(each export holds the project's speech files so far: the warm-up's and one more each round)")
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
