"""One settings object for the whole app, read from the environment and CLI flags.

`python app.py` with no arguments must run (that is what a Hugging Face Space
does), so every field has a sensible default. Flags override the environment.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


def _env_flag(env: dict[str, str], name: str) -> bool:
    """A yes/no setting: 1, true or yes (any case) mean yes; anything else, or unset, means no."""
    return env.get(name, "").strip().lower() in {"1", "true", "yes"}


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None


def _env_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


SIGN_IN_MODES = ("auto", "accounts", "huggingface", "off")
# Where jobs run: "local" (threads of the web process) or "ray" (tasks on a Ray cluster).
EXECUTORS = ("local", "ray")
VOICE_CONSENT_MODES = ("spoken", "attested")
# What Gradio's Hugging Face OAuth needs; a Space with `hf_oauth: true` in its README sets them all.
OAUTH_VARS = ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES", "OPENID_PROVIDER_URL")
# An S3 bucket name (MEDIA_URL=s3://bucket/prefix).
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class Settings:
    # Where media, the SQLite database and scratch files live.
    data_dir: Path = Path("data")
    # SQLAlchemy URL; empty means SQLite at data_dir/studio.db.
    database_url: str = ""
    # Where stored media live: empty = the folder data_dir/media (or a path every node mounts), or
    # s3://bucket/prefix for S3-compatible object storage (README, "Media on S3-compatible storage").
    media_url: str = ""
    # Object storage only: the S3 endpoint ("" = AWS; e.g. http://minio:9000), its region, and the access key
    # pair ("" = the client's own lookup: the AWS_* variables, else the machine's role). The secret is never shown.
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = field(default="", repr=False)
    # Object storage only: megabytes of stored media kept on local disk (data_dir/media-cache) for the engines
    # and downloads to read; the least recently used files beyond it are removed (fetched again when needed).
    media_cache_mb: int = 2048
    # Largest accepted upload, in megabytes (also Gradio's max_file_size).
    max_upload_mb: int = 200
    # Longest accepted audio or video upload, in seconds.
    max_media_seconds: int = 1800
    # Largest accepted image, in pixels (width * height); larger is treated as a bomb.
    max_image_pixels: int = 50_000_000
    # Largest total uncompressed size of a .pptx or project zip, in megabytes.
    max_unzipped_mb: int = 1024
    # OpenAI-compatible LLM / TTS endpoint; empty key means "not configured".
    openai_api_key: str = ""
    openai_base_url: str = ""
    openai_model: str = "gpt-4o-mini"
    # "auto" (cuda > mps > cpu) or an explicit torch device such as "cpu" or "cuda:1".
    device: str = "auto"
    # Login pairs "user:password,user2:password2", made accounts at start-up (the first is admin when
    # there is none); an existing account gets the listed password.
    auth: str = ""
    # Sign-in: "accounts" (user name and password), "huggingface" (Hugging Face OAuth, in a Space only),
    # "off" (a local single-user run: everything belongs to one local user) or "auto" (see resolve_sign_in).
    sign_in: str = "auto"
    # How a voice profile's speaker consents: "spoken" (they read aloud a sentence made for the request;
    # speech recognition and speaker similarity check it) or "attested" (the user ticks that they have
    # consent; the profile is marked "attested, not verified").
    voice_consent: str = "spoken"
    # The audio watermark of every output: its key (empty: one made on first start, kept in
    # DATA_DIR/keys) and this studio's id (0-255), carried with the generation id.
    watermark_key: str = ""
    studio_id: int = 1
    # Content Credentials (C2PA) of every output: PEM files of the signing certificate chain (signing
    # certificate first) and its private key. Empty: a self-signed test chain made on first start in
    # DATA_DIR/keys/c2pa, and every manifest says it was signed with a test chain.
    c2pa_cert: str = ""
    c2pa_key: str = ""
    # Hugging Face user names (comma separated) whose accounts are admins with huggingface sign-in.
    admin_users: str = ""
    # The Space this runs in ("owner/name"): Hugging Face sets SYSTEM=spaces and SPACE_ID; empty elsewhere.
    space_id: str = ""
    # Which of OAUTH_VARS are unset (Gradio reads their values itself; the secret is never kept here).
    oauth_missing: tuple[str, ...] = OAUTH_VARS
    # Failed sign-ins in a row allowed per user name before each further attempt must wait
    # (1, 2, 4 ... seconds; an IP address is allowed four times as many).
    login_free_failures: int = 5
    # Longest such wait, in seconds.
    login_max_wait_s: int = 300
    # Security log entries older than this many days are deleted (0 = kept for ever).
    security_log_days: int = 90
    # Per-user quotas: jobs running at once, and megabytes kept stored (0 = no limit).
    max_jobs_per_user: int = 3
    max_storage_mb_per_user: int = 0
    # Network binding; honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT.
    server_name: str = "127.0.0.1"
    server_port: int = 7860
    # Ask Gradio for a public share link.
    share: bool = False
    # Also serve the API as an MCP server for AI agents (Gradio's, at /gradio_api/mcp/ and /gradio_api/mcp/sse).
    # Off by default, and only started with sign-in off: Gradio's MCP server lists its tools to anyone and calls
    # the app back without the caller's session, so it cannot act for a signed-in user (README, "MCP server").
    mcp_server: bool = False
    # Model weights: a local directory searched before the Hugging Face cache.
    models_dir: Path = Path("models")
    # MusicGen weights: a folder or a Hugging Face repo id found in the cache; "" = musicgen-small.
    musicgen_model: str = ""
    # Drop a loaded model after this many idle seconds (0 = never).
    model_idle_seconds: int = 900
    # Speech recognition: a Whisper size ("base", "small", "large-v3", ...) or a CTranslate2 model folder.
    asr_model: str = "base"
    # Files in Gradio's cache (uploads, copies made for downloads) are removed this many seconds after they
    # were made or last handed out.
    cache_max_age_s: int = 86_400
    # Clone videos keep each stage's result (speech per point, talking head per point, slides, music) so an
    # edit re-renders only what changed; the oldest go beyond this many megabytes.
    stage_cache_mb: int = 2000
    # Where jobs run: "local" (the web process's own threads) or "ray" (tasks on the Ray cluster at
    # ray_address; chosen when RAY_ADDRESS is set and EXECUTOR is not).
    executor: str = "local"
    # The Ray cluster to join ("host:port" of its head, or "auto"); used only with executor="ray".
    ray_address: str = ""
    # CPUs a job's Ray task asks for, and CPUs (on a CPU device) or GPUs (on a GPU) a warm model actor holds.
    ray_job_cpus: float = 1.0
    ray_model_cpus: float = 1.0
    ray_model_gpus: float = 1.0
    # Seconds a warm model actor may sit unused before it leaves, giving its memory and its CPUs or GPU back
    # (the next call loads the model again in a new actor); 0 = it stays.
    ray_model_idle_s: float = 600.0

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def media_cache_dir(self) -> Path:
        """Object storage only: local copies of stored media (bounded by media_cache_mb)."""
        return self.data_dir / "media-cache"

    @property
    def media_bucket(self) -> tuple[str, str]:
        """MEDIA_URL's (bucket, prefix) for object storage; ("", "") for the local folder."""
        if not self.media_url:
            return "", ""
        bucket, _, prefix = self.media_url.removeprefix("s3://").partition("/")
        return bucket, prefix.strip("/")

    @property
    def scratch_dir(self) -> Path:
        """Work in progress: uploads being probed, jobs' outputs and temporary files before they are stored."""
        return self.data_dir / "scratch"

    @property
    def stages_dir(self) -> Path:
        """Stage results of clone videos (storage.stages), reused while their inputs are unchanged."""
        return self.data_dir / "stages"

    @property
    def cache_dir(self) -> Path:
        """Gradio's cache (its GRADIO_TEMP_DIR): uploads, and the copies made for downloads. The one folder of
        the data folder that is served over HTTP."""
        return self.data_dir / "cache"

    @property
    def cache_sweep_s(self) -> int:
        """How often expired files are looked for: a quarter of their lifetime, at least every second
        and at most every hour."""
        return min(3600, max(1, self.cache_max_age_s // 4))

    def private_paths(self) -> list[Path]:
        """What of the data folder must never be served: everything but the cache (the media store, scratch
        files, the SQLite database and its journals, and whatever else lies there now)."""
        data, cache = self.data_dir.resolve(), self.cache_dir.resolve()
        named = ([data / "media", data / "media-cache", data / "scratch"]
                 + [data / f"studio.db{s}" for s in ("", "-wal", "-shm", "-journal")])
        present = sorted(p for p in data.iterdir() if p != cache) if data.is_dir() else []
        return list(dict.fromkeys(named + present))

    @property
    def db_url(self) -> str:
        url = self.database_url or f"sqlite:///{(self.data_dir / 'studio.db').resolve()}"
        # Heroku-style URLs and bare postgresql:// go through psycopg 3.
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://"):]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        return url

    @property
    def auth_pairs(self) -> list[tuple[str, str]]:
        pairs = []
        for item in filter(None, (p.strip() for p in self.auth.split(","))):
            user, sep, password = item.partition(":")
            if not sep or not user or not password:
                raise SystemExit("AUTH must look like 'user:password[,user2:password2]'")
            pairs.append((user, password))
        return pairs

    @property
    def admin_names(self) -> set[str]:
        """ADMIN_USERS as lower-case names (Hugging Face names are case-insensitive)."""
        return {n.strip().lower() for n in self.admin_users.split(",") if n.strip()}

    @property
    def hf_oauth_ready(self) -> bool:
        """Running in a Space whose OAuth is configured (`hf_oauth: true` in its README)."""
        return bool(self.space_id) and not self.oauth_missing

    def resolve_sign_in(self, password_accounts: bool) -> str:
        """The sign-in in force: "accounts", "huggingface" or "off". `password_accounts`: whether accounts
        with a password exist. SIGN_IN=auto means, in this order: accounts when AUTH is set (the operator
        asked for passwords); huggingface in a Space whose OAuth is configured; accounts when password
        accounts exist; else off. huggingface without a Space's OAuth stops the start: Gradio would then
        sign every visitor in as the machine's own Hugging Face account."""
        mode = self.sign_in
        if mode == "auto":
            if self.auth.strip():
                mode = "accounts"
            elif self.hf_oauth_ready:
                mode = "huggingface"
            else:
                mode = "accounts" if password_accounts else "off"
        if mode == "huggingface" and not self.hf_oauth_ready:
            missing = ([] if self.space_id else ["SYSTEM=spaces", "SPACE_ID"]) + list(self.oauth_missing)
            raise SystemExit("SIGN_IN=huggingface works only in a Hugging Face Space with OAuth on (`hf_oauth: true` "
                             f"in the Space's README); not set here: {', '.join(missing)}. Outside a Space Gradio "
                             "would sign every visitor in as this machine's Hugging Face account, so the app "
                             "does not start. Use SIGN_IN=accounts for password accounts.")
        return mode

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        d = cls()
        return cls(
            data_dir=Path(env.get("DATA_DIR") or d.data_dir),
            database_url=env.get("DATABASE_URL", ""),
            media_url=env.get("MEDIA_URL", "").strip(),
            s3_endpoint_url=(env.get("S3_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL_S3")
                             or env.get("AWS_ENDPOINT_URL") or "").strip(),
            s3_region=(env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip(),
            s3_access_key_id=env.get("AWS_ACCESS_KEY_ID", ""),
            s3_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", ""),
            media_cache_mb=_env_int(env, "MEDIA_CACHE_MB", d.media_cache_mb),
            max_upload_mb=_env_int(env, "MAX_UPLOAD_MB", d.max_upload_mb),
            max_media_seconds=_env_int(env, "MAX_MEDIA_SECONDS", d.max_media_seconds),
            max_image_pixels=_env_int(env, "MAX_IMAGE_PIXELS", d.max_image_pixels),
            max_unzipped_mb=_env_int(env, "MAX_UNZIPPED_MB", d.max_unzipped_mb),
            openai_api_key=env.get("OPENAI_API_KEY", ""),
            openai_base_url=env.get("OPENAI_BASE_URL", ""),
            openai_model=env.get("OPENAI_MODEL") or d.openai_model,
            device=env.get("DEVICE") or d.device,
            auth=env.get("AUTH", ""),
            sign_in=(env.get("SIGN_IN") or d.sign_in).strip().lower(),
            admin_users=env.get("ADMIN_USERS", ""),
            voice_consent=(env.get("VOICE_CONSENT") or d.voice_consent).strip().lower(),
            watermark_key=env.get("WATERMARK_KEY", ""),
            studio_id=_env_int(env, "STUDIO_ID", d.studio_id),
            c2pa_cert=env.get("C2PA_CERT", ""),
            c2pa_key=env.get("C2PA_KEY", ""),
            space_id=env.get("SPACE_ID", "") if env.get("SYSTEM") == "spaces" else "",
            oauth_missing=tuple(v for v in OAUTH_VARS if not env.get(v)),
            login_free_failures=_env_int(env, "LOGIN_FREE_FAILURES", d.login_free_failures),
            login_max_wait_s=_env_int(env, "LOGIN_MAX_WAIT_S", d.login_max_wait_s),
            security_log_days=_env_int(env, "SECURITY_LOG_DAYS", d.security_log_days),
            max_jobs_per_user=_env_int(env, "MAX_JOBS_PER_USER", d.max_jobs_per_user),
            max_storage_mb_per_user=_env_int(env, "MAX_STORAGE_MB_PER_USER", d.max_storage_mb_per_user),
            server_name=env.get("GRADIO_SERVER_NAME") or d.server_name,
            server_port=_env_int(env, "GRADIO_SERVER_PORT", d.server_port),
            share=_env_flag(env, "SHARE"),
            mcp_server=_env_flag(env, "GRADIO_MCP_SERVER"),
            models_dir=Path(env.get("MODELS_DIR") or d.models_dir),
            musicgen_model=env.get("MUSICGEN_MODEL", ""),
            model_idle_seconds=_env_int(env, "MODEL_IDLE_SECONDS", d.model_idle_seconds),
            asr_model=env.get("ASR_MODEL") or d.asr_model,
            cache_max_age_s=_env_int(env, "CACHE_MAX_AGE_S", d.cache_max_age_s),
            stage_cache_mb=_env_int(env, "STAGE_CACHE_MB", d.stage_cache_mb),
            executor=(env.get("EXECUTOR") or ("ray" if env.get("RAY_ADDRESS") else d.executor)).strip().lower(),
            ray_address=env.get("RAY_ADDRESS", ""),
            ray_job_cpus=_env_float(env, "RAY_JOB_CPUS", d.ray_job_cpus),
            ray_model_cpus=_env_float(env, "RAY_MODEL_CPUS", d.ray_model_cpus),
            ray_model_gpus=_env_float(env, "RAY_MODEL_GPUS", d.ray_model_gpus),
            ray_model_idle_s=_env_float(env, "RAY_MODEL_IDLE_S", d.ray_model_idle_s),
        )

    @classmethod
    def from_args(cls, argv: list[str] | None = None, env: dict[str, str] | None = None) -> Settings:
        base = cls.from_env(env)
        p = argparse.ArgumentParser(description="Digital Clone Studio",
                                    epilog="Accounts: python app.py users --help (add, list, disable, enable, passwd)")
        p.add_argument("--data-dir", type=Path, help="media, database and scratch files (DATA_DIR)")
        p.add_argument("--database-url", help="SQLAlchemy URL, e.g. postgresql://... (DATABASE_URL)")
        p.add_argument("--max-upload-mb", type=int, help="largest upload in MB (MAX_UPLOAD_MB)")
        p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (DEVICE)")
        p.add_argument("--auth", help="user:password[,user2:password2] (AUTH)")
        p.add_argument("--sign-in", choices=SIGN_IN_MODES, help="auto, accounts, huggingface or off (SIGN_IN)")
        p.add_argument("--host", dest="server_name", help="bind address (GRADIO_SERVER_NAME)")
        p.add_argument("--port", dest="server_port", type=int, help="port (GRADIO_SERVER_PORT)")
        p.add_argument("--share", action="store_true", default=None, help="create a public share link")
        p.add_argument("--mcp-server", action="store_true", default=None,
                       help="also serve the API as an MCP server for AI agents (GRADIO_MCP_SERVER)")
        p.add_argument("--executor", choices=EXECUTORS, help="where jobs run: local or ray (EXECUTOR)")
        p.add_argument("--ray-address", help="the Ray cluster's head, host:port (RAY_ADDRESS)")
        p.add_argument("--openai-model", help="model name for the OpenAI-compatible API (OPENAI_MODEL)")
        args = p.parse_args(argv)
        known = {f.name for f in fields(cls)}
        overrides = {k: v for k, v in vars(args).items() if v is not None and k in known}
        return replace(base, **overrides)

    def __post_init__(self) -> None:
        if self.sign_in not in SIGN_IN_MODES:
            raise SystemExit(f"SIGN_IN must be one of {', '.join(SIGN_IN_MODES)}, got {self.sign_in!r}")
        if not 0 <= self.studio_id <= 255:
            raise SystemExit(f"STUDIO_ID must be between 0 and 255, got {self.studio_id}")
        if self.voice_consent not in VOICE_CONSENT_MODES:
            raise SystemExit(f"VOICE_CONSENT must be one of {', '.join(VOICE_CONSENT_MODES)}, "
                             f"got {self.voice_consent!r}")
        if bool(self.c2pa_cert) != bool(self.c2pa_key):
            raise SystemExit("C2PA_CERT and C2PA_KEY go together: the certificate chain and its private key "
                             "(PEM files); set both, or neither for a self-signed test chain")
        for name, value in (("C2PA_CERT", self.c2pa_cert), ("C2PA_KEY", self.c2pa_key)):
            if value and not Path(value).is_file():
                raise SystemExit(f"{name} names {value!r}, which is not a file")
        if self.media_url:
            bucket, _ = self.media_bucket
            if not self.media_url.startswith("s3://") or not _BUCKET_RE.match(bucket):
                raise SystemExit(f"MEDIA_URL must look like s3://bucket or s3://bucket/prefix (a bucket name of 3-63 "
                                 f"lower-case letters, digits, dots and hyphens), or be empty for the local folder "
                                 f"DATA_DIR/media; got {self.media_url!r}")
            if bool(self.s3_access_key_id) != bool(self.s3_secret_access_key):
                raise SystemExit("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set both, or neither to "
                                 "use the usual AWS credential chain")
            if self.s3_endpoint_url and not self.s3_endpoint_url.startswith(("http://", "https://")):
                raise SystemExit(f"S3_ENDPOINT_URL must start with http:// or https://, got {self.s3_endpoint_url!r}")
        if self.media_cache_mb < 1:
            raise SystemExit(f"MEDIA_CACHE_MB must be at least 1 (megabytes), got {self.media_cache_mb}")
        if self.executor not in EXECUTORS:
            raise SystemExit(f"EXECUTOR must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if min(self.ray_job_cpus, self.ray_model_cpus, self.ray_model_gpus, self.ray_model_idle_s) < 0:
            raise SystemExit("RAY_JOB_CPUS, RAY_MODEL_CPUS, RAY_MODEL_GPUS and RAY_MODEL_IDLE_S must be 0 or more")
        if self.cache_max_age_s < 1:
            raise SystemExit(f"CACHE_MAX_AGE_S must be at least 1 (seconds), got {self.cache_max_age_s}")


__all__ = ["Settings"]
