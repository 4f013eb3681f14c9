"""The media store on S3-compatible object storage (MEDIA_URL=s3://bucket/prefix).

Same content addressing as the local store: an object `prefix/ab/abcd...ef.wav` per distinct file. What
the app reads (engines take input paths, Gradio serves download copies) comes from a bounded local cache
in DATA_DIR/media-cache, so `local_path` returns a local file like the local store's:

- `put` uploads the file once (an object with the same name is the same content: nothing is sent) in one
  request, or one multipart upload completed at once, so a reader sees the whole object or none; the
  file then moves into the cache (atomically), so this node reads it without a download.
- `local_path` returns the cached copy, marking it used; a copy that is missing (evicted, or made by
  another node) is fetched, checked against its sha256 and moved in atomically.
- Beyond `cache_bytes`, the least recently used copies are removed, except those handed out in the
  last `keep_recent_s` seconds: a job may still be about to read them.
- `collect_garbage` removes objects no row refers to only when they are older than `gc_grace_s`: another
  node may have uploaded a file whose row it has not committed yet.

The client is obstore (Python bindings of Rust's object_store, MIT), which talks S3 over HTTP(S) to AWS
or any compatible server (MinIO, Ceph, R2 ...), used through `S3Objects`, the five operations the store
needs, in obstore's blocking calls. Not s3fs: its botocore holds python-dateutil below 3, where this
app's stack has 4. Not obstore's fsspec adapter either: it runs on an asyncio loop in a thread, and a
process that used it aborted at exit in 2 of 12 runs here (a Rust thread finishing a request after
Python had begun to shut down); the blocking calls did not, in 12 of 12.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storage.media import ScratchArea, check_name, sha256_file, split_name

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


class S3Objects:
    """The object operations the store needs, on one bucket: keys are paths inside it ("prefix/ab/x.wav")."""

    def __init__(self, store: Any, bucket: str) -> None:
        # An obstore.store.S3Store, and the name of its bucket.
        self.store = store
        self.bucket = bucket

    def exists(self, key: str) -> bool:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            obstore.head(self.store, key)
        except (NotFoundError, FileNotFoundError):
            return False
        return True

    def put_file(self, path: Path, key: str) -> None:
        """One PUT, or for a large file one multipart upload completed at once: readers see all or nothing."""
        import obstore

        with open(path, "rb") as f:
            obstore.put(self.store, key, f)

    def put_bytes(self, key: str, data: bytes) -> None:
        import obstore

        obstore.put(self.store, key, data)

    def get_file(self, key: str, path: Path) -> None:
        """Download to `path`; FileNotFoundError when there is no such object."""
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            got = obstore.get(self.store, key)
        except (NotFoundError, FileNotFoundError):
            raise FileNotFoundError(key) from None
        with open(path, "wb") as f:
            for chunk in got.stream():
                f.write(chunk)

    def delete(self, key: str) -> None:
        import obstore

        obstore.delete(self.store, key)

    def list(self, prefix: str) -> list[tuple[str, int, datetime | None]]:
        """(key, size in bytes, last modified) of every object under `prefix` ("" = the whole bucket)."""
        import obstore

        out = []
        for batch in obstore.list(self.store, prefix=prefix or None):
            for meta in batch:
                out.append((meta["path"], int(meta["size"]), meta.get("last_modified")))
        return out

    def check(self, prefix: str) -> None:
        """Raise unless the bucket can be listed."""
        import obstore

        obstore.list_with_delimiter(self.store, prefix=prefix or None)


def s3_objects(settings) -> S3Objects:
    """The bucket of MEDIA_URL with the S3 endpoint, region and keys in `settings` (what is not set there
    comes from the AWS_* variables or the machine's role, which the client finds itself; not ~/.aws).
    obstore is imported here only."""
    from obstore.store import S3Store

    bucket, _ = settings.media_bucket
    config: dict[str, Any] = {}
    client: dict[str, Any] = {}
    if settings.s3_endpoint_url:
        config["endpoint"] = settings.s3_endpoint_url
        # Other S3 servers than AWS address buckets in the path more often than in the host name.
        config["virtual_hosted_style_request"] = False
        if settings.s3_endpoint_url.startswith("http://"):
            client["allow_http"] = True
    if settings.s3_region:
        config["region"] = settings.s3_region
    if settings.s3_access_key_id:
        config["access_key_id"] = settings.s3_access_key_id
        config["secret_access_key"] = settings.s3_secret_access_key
    # Bounded waits: a server that does not answer fails in seconds; a request (a large video's download
    # included) may take ten minutes.
    return S3Objects(S3Store(bucket, config=config,
                             client_options={**client, "timeout": "600s", "connect_timeout": "10s"},
                             retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=60)}), bucket)


class ObjectMediaStore(ScratchArea):
    def __init__(self, objects: S3Objects, prefix: str, cache: Path, scratch: Path, *,
                 cache_bytes: int, keep_recent_s: float = 900.0, gc_grace_s: float = 3600.0, url: str = "") -> None:
        # The bucket.
        self.objects = objects
        # Where objects go in it: "" (the whole bucket) or "some/prefix".
        self.prefix = prefix.strip("/")
        # Local copies of stored files, and the most bytes they may take (see the module docstring).
        self.cache = Path(cache)
        self.cache_bytes = int(cache_bytes)
        # Seconds a copy handed out is kept even beyond cache_bytes.
        self.keep_recent_s = float(keep_recent_s)
        # Seconds an unreferenced object is left before garbage collection removes it.
        self.gc_grace_s = float(gc_grace_s)
        self.url = url or f"s3://{objects.bucket}/{self.prefix}".rstrip("/")
        self.scratch = Path(scratch)
        self.cache.mkdir(parents=True, exist_ok=True)
        self.scratch.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._evict_lock = threading.Lock()
        self._check_bucket()

    def _check_bucket(self) -> None:
        try:
            self.objects.check(self.prefix)
        except Exception as e:
            raise SystemExit(f"MEDIA_URL={self.url}: the bucket cannot be listed ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else 'no detail'}); check that it exists, and the "
                             "endpoint, region and keys (S3_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, "
                             "AWS_SECRET_ACCESS_KEY)") from None

    # ------------------------------------------------------------------ names

    def key_for(self, sha256: str, ext: str) -> str:
        """The object's key in the bucket ("prefix/ab/abcd...ef.wav") of a stored file."""
        check_name(sha256, ext)
        return f"{self.prefix}/{sha256[:2]}/{sha256}{ext}" if self.prefix else f"{sha256[:2]}/{sha256}{ext}"

    def cached_path(self, sha256: str, ext: str) -> Path:
        """Where the local copy of a stored file is kept (it may not be there)."""
        check_name(sha256, ext)
        return self.cache / sha256[:2] / f"{sha256}{ext}"

    def _lock(self, name: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(name, threading.Lock())

    # ------------------------------------------------------------------ the contract

    def put(self, src: Path, ext: str) -> tuple[str, int, bool]:
        """Upload `src` unless the bucket has it. Returns (sha256, size in bytes, newly_created).

        `src` is consumed either way: it becomes the local cached copy."""
        src = Path(src)
        sha = sha256_file(src)
        size = src.stat().st_size
        key = self.key_for(sha, ext)
        with self._lock(key):
            created = not self.objects.exists(key)
            if created:
                self.objects.put_file(src, key)
            self._move_into_cache(src, self.cached_path(sha, ext))
        self._evict(keep=self.cached_path(sha, ext))
        return sha, size, created

    def local_path(self, sha256: str, ext: str) -> Path:
        """The stored file as a local path to read: the cached copy, fetched from the bucket when missing.
        FileNotFoundError when the bucket does not have it."""
        key = self.key_for(sha256, ext)
        path = self.cached_path(sha256, ext)
        with self._lock(key):
            try:
                os.utime(path)  # marks it used (the least recently used copies go first)
                return path
            except FileNotFoundError:
                self._fetch(key, sha256, path)
        self._evict(keep=path)
        return path

    def remove(self, sha256: str, ext: str) -> bool:
        key = self.key_for(sha256, ext)
        with self._lock(key):
            self.cached_path(sha256, ext).unlink(missing_ok=True)
            if not self.objects.exists(key):
                return False
            self.objects.delete(key)
        return True

    def stored(self) -> set[tuple[str, str]]:
        """Every (sha256, ext) in the bucket under the prefix (objects named otherwise are not ours)."""
        return set(self._objects())

    def usage_bytes(self) -> int:
        return sum(size for size, _ in self._objects().values())

    def collect_garbage(self, referenced: set[tuple[str, str]]) -> int:
        """Remove objects no row refers to (older than gc_grace_s), their cached copies, and cache leftovers
        (partial downloads, copies of files the bucket no longer has). Returns the count of objects removed."""
        now = datetime.now(UTC)
        objects = self._objects()
        removed = 0
        for (sha, ext), (_, modified) in objects.items():
            if (sha, ext) in referenced:
                continue
            if modified is not None and (now - modified).total_seconds() < self.gc_grace_s:
                continue
            removed += self.remove(sha, ext)
        for p in self.cache.glob("??/*"):
            name = split_name(p.name)
            if name is None or name not in objects or name not in referenced:
                p.unlink(missing_ok=True)
        if removed:
            log.info("media store %s: removed %d unreferenced object(s)", self.url, removed)
        return removed

    def cache_usage_bytes(self) -> int:
        """Bytes the local copies take."""
        return sum(p.stat().st_size for p in self.cache.glob("??/*") if p.is_file())

    # ------------------------------------------------------------------ inside

    def _objects(self) -> dict[tuple[str, str], tuple[int, datetime | None]]:
        """(sha256, ext) -> (size, last modified or None) of every stored object under the prefix."""
        out = {}
        start = f"{self.prefix}/" if self.prefix else ""
        for key, size, modified in self.objects.list(self.prefix):
            folder, _, name = key[len(start):].partition("/") if key.startswith(start) else ("", "", "")
            parsed = split_name(name)
            if parsed is None or folder != parsed[0][:2]:
                continue
            out[parsed] = (size, modified if isinstance(modified, datetime) else None)
        return out

    def _move_into_cache(self, src: Path, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        shutil.move(str(src), tmp)
        os.replace(tmp, dest)

    def _fetch(self, key: str, sha256: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        try:
            try:
                self.objects.get_file(key, tmp)
            except FileNotFoundError:
                raise FileNotFoundError(f"the stored file {dest.name} is not in {self.url}") from None
            h = hashlib.sha256()
            with open(tmp, "rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
            if h.hexdigest() != sha256:
                raise OSError(f"the stored file {dest.name} in {self.url} does not match its hash "
                              f"(got {h.hexdigest()[:12]}...): it was changed or damaged in the bucket")
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def _evict(self, keep: Path | None = None) -> None:
        """Remove the least recently used copies until the cache fits in cache_bytes (see the docstring)."""
        with self._evict_lock:
            copies = []
            for p in self.cache.glob("??/*"):
                if p.name.startswith("."):
                    continue
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                copies.append((st.st_mtime, st.st_size, p))
            total = sum(size for _, size, _ in copies)
            if total <= self.cache_bytes:
                return
            now = time.time()
            for used, size, p in sorted(copies):
                if total <= self.cache_bytes:
                    break
                if p == keep or now - used < self.keep_recent_s:
                    continue
                p.unlink(missing_ok=True)
                total -= size
            if total > self.cache_bytes:
                log.info("media cache holds %.0f MB, over its %.0f MB, in files used in the last %.0f s",
                         total / 2**20, self.cache_bytes / 2**20, self.keep_recent_s)
