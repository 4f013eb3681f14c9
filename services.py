"""Builds the app's services from the settings: database, media store, library, jobs, models.

The tabs receive one `Services` object; nothing in the UI reaches for globals.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InputError
from core.progress import no_progress
from engines import zerogpu
from engines.backend import Backends
from engines.capabilities import MediaIntake
from engines.llm import OpenAICompatibleText
from engines.music.backends.musicgen import MusicGenBackend
from engines.registry import MODELS, ModelRegistry
from engines.talking_head.backends import EmbeddedBackend as EmbeddedTalkingHead
from engines.voice.backends.bark import BarkBackend
from engines.voice.backends.embedded import EmbeddedBackend as EmbeddedSpeech
from engines.voice.backends.gtts_backend import GTTSBackend
from engines.voice.backends.openai_tts import OpenAIBackend
from engines.voice.backends.piper_backend import PiperBackend
from settings import Settings
from storage import cache
from storage.accounts import Accounts, LoginThrottle
from storage.db import make_engine
from storage.intake import Limits
from storage.jobs import JobRunner
from storage.library import Actor, Library
from storage.media import open_media_store
from storage.sharing import Sharing
from storage.stages import StageCache
from workflows.clone import CloneWorkflows
from workflows.music import MusicWorkflows
from workflows.slides import SlidesWorkflows
from workflows.talking_head import TalkingHeadWorkflows
from workflows.trust import OutputMarks
from workflows.video import VideoWorkflows
from workflows.voice import VoiceWorkflows

log = logging.getLogger(__name__)


def make_backends() -> Backends:
    """Every backend the app offers, by kind, in the order backend="auto" tries them (nothing
    registers itself on import). Adding a model is one file, a `Backend` subclass, and one line here."""
    return Backends([
        # Speech: local weights, then the cloud, then the embedded voices; gTTS only when named.
        BarkBackend(), OpenAIBackend(), PiperBackend(), EmbeddedSpeech(), GTTSBackend(),
        # Music: instrumentals from a prompt (the embedded composer always plays otherwise).
        MusicGenBackend(),
        # Talking heads: neural backends go before the embedded engine, auto's fallback.
        EmbeddedTalkingHead(),
        # The language model, and the checks of uploads.
        OpenAICompatibleText(), MediaIntake(),
    ])


@dataclass
class Services:
    settings: Settings
    library: Library
    jobs: JobRunner
    models: ModelRegistry
    backends: Backends
    voices: VoiceWorkflows
    talking_heads: TalkingHeadWorkflows
    music: MusicWorkflows
    video: VideoWorkflows
    slides: SlidesWorkflows
    clones: CloneWorkflows
    accounts: Accounts
    sharing: Sharing
    # True: every request needs a signed-in account; False: a local single-user run.
    sign_in: bool
    # How people sign in: "accounts" (password), "huggingface" (Hugging Face OAuth) or "off".
    sign_in_mode: str = "off"
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def start_housekeeping(self, every_s: float = 60.0) -> threading.Thread:
        """Drop idle models in the background so a long-running server gives memory back; expire
        old security events hourly."""

        def loop() -> None:
            rounds = 0
            while not self._stop.wait(every_s):
                rounds += 1
                try:
                    self.models.drop_idle()
                    if rounds % max(1, int(3600 / every_s)) == 0:  # hourly
                        self.library.expire_events(self.settings.security_log_days)
                except Exception:
                    log.exception("housekeeping failed")

        t = threading.Thread(target=loop, name="housekeeping", daemon=True)
        t.start()
        return t

    def start_cache_expiry(self) -> threading.Thread:
        """Remove what expired from Gradio's cache (uploads, download copies) every
        `settings.cache_sweep_s` seconds, so its size stays bounded."""
        every_s, max_age_s = self.settings.cache_sweep_s, self.settings.cache_max_age_s

        def loop() -> None:
            while not self._stop.wait(every_s):
                try:
                    cache.expire(self.settings.cache_dir, max_age_s)
                except Exception:
                    log.exception("cache expiry failed")

        t = threading.Thread(target=loop, name="cache-expiry", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        self._stop.set()

    def rerun(self, generation_id, overrides: dict | None = None, *, actor: Actor,
              progress=None, cancel=None):
        """A new generation like `generation_id`, with `overrides` (workflows.rerun)."""
        from workflows.rerun import rerun

        return rerun(self, generation_id, overrides, actor=actor, progress=progress or no_progress, cancel=cancel)

    def verify_media(self, path: Path, name: str, actor: Actor, sidecar: Path | None = None,
                     sidecar_name: str = "") -> dict:
        """Was the file made here? Its Content Credentials (in it, or in its .c2pa sidecar) and watermarks
        (workflows.trust.verify_media)."""
        from workflows.trust import verify_media

        return verify_media(path, name, self.jobs.mark_outputs, self.library, self.accounts, actor, sidecar,
                            sidecar_name)

    def capabilities(self) -> dict:
        from engines.capabilities import report

        out = report(self.settings, self.backends)
        out["models_loaded"] = self.models.loaded()
        out["executor"] = self.jobs.executor.name
        warm = getattr(self.jobs.executor, "warm_models", None)
        if warm is not None:  # the Ray executor's model actors: their loads and calls
            out["warm_models"] = warm()
        return out


def build_services(settings: Settings, recover: bool = True, worker: bool = False) -> Services:
    """The app's services. `worker`: a Ray worker's own (cluster.ray_executor): the web process has already
    seeded the accounts and owns start-up recovery, so neither is done, and jobs run where they are called."""
    # On a ZeroGPU Space: the GPU backends' inference goes through spaces.GPU, set up before torch is imported.
    zerogpu.install()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db_url)
    store = open_media_store(settings)
    library = Library(engine, store, Limits.from_settings(settings))
    if recover and not worker:
        library.recover()
        cache.expire(settings.cache_dir, settings.cache_max_age_s)  # what expired while the app was down
    accounts = Accounts(library, LoginThrottle(free_failures=settings.login_free_failures,
                                               free_failures_per_ip=4 * settings.login_free_failures,
                                               max_wait_s=settings.login_max_wait_s))
    sign_in_mode = "off" if worker else start_accounts(settings, accounts)
    if not worker:
        library.expire_events(settings.security_log_days)
    MODELS.idle_seconds = settings.model_idle_seconds
    jobs = JobRunner(library, settings.max_jobs_per_user, mark_outputs=OutputMarks(settings))
    backends = make_backends()
    voices = VoiceWorkflows(settings, library, jobs, backends)
    music = MusicWorkflows(settings, library, jobs, voices, backends)
    stages = StageCache(settings.stages_dir, settings.stage_cache_mb * 1024 * 1024)
    if recover and not worker:
        stages.clear_unfinished()
    services = Services(settings=settings, library=library, jobs=jobs, models=MODELS, backends=backends,
                        voices=voices, talking_heads=TalkingHeadWorkflows(settings, library, jobs, voices, backends),
                        music=music, video=VideoWorkflows(settings, library, jobs, music),
                        slides=SlidesWorkflows(settings, library, jobs, voices),
                        clones=CloneWorkflows(settings, library, jobs, voices, backends, stages), accounts=accounts,
                        sharing=Sharing(library, voices.profiles), sign_in=sign_in_mode != "off",
                        sign_in_mode=sign_in_mode)
    if settings.executor == "ray" and not worker:
        from cluster.ray_executor import RayExecutor  # Ray itself is imported on the first job

        jobs.executor = RayExecutor(settings, services)
    return services


def start_accounts(settings: Settings, accounts: Accounts) -> str:
    """Seed the AUTH accounts, decide how people sign in ("accounts", "huggingface" or "off", see
    `Settings.resolve_sign_in`), and give rows without an owner (an earlier single-user install) to the
    first admin, or to the local user when sign-in is off."""
    try:
        accounts.seed(settings.auth_pairs)
    except InputError as e:
        raise SystemExit(f"AUTH: {e}") from None
    mode = settings.resolve_sign_in(accounts.has_sign_in_users())
    if mode == "accounts" and not accounts.has_sign_in_users():
        raise SystemExit("SIGN_IN=accounts but there are no accounts: set AUTH=user:password or run "
                         "`python app.py users add NAME --admin`")
    if mode == "huggingface":
        # Accounts are made as people sign in; only ADMIN_USERS makes admins (the first visitor of a
        # public Space is anyone, so being first makes nobody an admin).
        accounts.sync_hf_admins(settings.admin_names)
        if settings.auth_pairs:
            log.warning("AUTH accounts cannot sign in with SIGN_IN=huggingface (only Hugging Face users can)")
        if not settings.admin_names:
            log.warning("no admin: set ADMIN_USERS to the Hugging Face user names that may manage accounts")
    elif settings.admin_names:
        log.warning("ADMIN_USERS is used with SIGN_IN=huggingface only; here admins come from AUTH or "
                    "`python app.py users add NAME --admin`")
    owner = accounts.local_user() if mode == "off" else accounts.first_admin(mode)
    if owner is None:
        log.warning("sign-in is on but no admin can sign in; earlier single-user data stays unowned until one "
                    "does (%s)", "ADMIN_USERS names them" if mode == "huggingface"
                    else "`python app.py users add NAME --admin` makes one")
    else:
        accounts.adopt_unowned(owner)
    log.info("sign-in %s", {"accounts": "on: local accounts", "huggingface": "on: Hugging Face accounts",
                            "off": "off: a local single-user run"}[mode])
    if mode == "off" and (settings.share or settings.server_name not in ("127.0.0.1", "localhost", "::1")):
        log.warning("sign-in is off but the app is reachable from other machines (%s): every visitor shares "
                    "one library and its cloned voices; set AUTH=user:password or SIGN_IN=accounts",
                    "share link" if settings.share else settings.server_name)
    return mode
