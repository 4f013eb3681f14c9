"""Digital Clone Studio: assembles the tabs and launches. `python app.py --help` lists the flags."""

from __future__ import annotations

import logging
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# onnxruntime (the Piper voice) would otherwise send usage telemetry and keep its session file in the system
# temp folder.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from settings import Settings


def use_cache_dir(settings: Settings) -> None:
    """Gradio keeps uploads and the files it serves in DATA_DIR/cache, where they expire (see
    storage.cache), instead of the system temp folder. Set before Gradio is imported: some of its
    modules read GRADIO_TEMP_DIR once."""
    folder = str(settings.cache_dir.resolve())
    given = os.environ.get("GRADIO_TEMP_DIR")
    if given and os.path.abspath(given) != folder:
        logging.getLogger(__name__).warning("GRADIO_TEMP_DIR=%s is replaced by %s (Gradio's cache lives in the "
                                            "data folder)", given, folder)
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = folder


def create(settings: Settings):
    """Build the services (recovering from any crash) and the UI, without launching."""
    use_cache_dir(settings)
    from services import build_services
    from tabs import build_app, server_app_made_at_launch

    services = build_services(settings)
    with server_app_made_at_launch():
        demo = build_app(services)
        demo.queue(default_concurrency_limit=2, max_size=64)
    return services, demo


def launch(demo, services, **overrides) -> None:
    from tabs import access, hf_oauth
    from tabs.api import mcp_lifespan, serve_mcp
    from tabs.theme import FORCE_DARK_JS, studio_css, studio_theme

    settings = services.settings
    mcp = serve_mcp(services)
    demo.launch(**{
        "server_name": settings.server_name,
        "server_port": settings.server_port,
        "share": settings.share,
        # Accounts in the database (AUTH pairs are seeded into it); failures slowed down and logged.
        "auth": access.login_check(services) if services.sign_in_mode == "accounts" else None,
        "auth_message": "Sign in with your studio account." if services.sign_in_mode == "accounts" else None,
        # Hugging Face sign-in: Gradio's OAuth session, turned into a studio account (401 without one).
        "auth_dependency": hf_oauth.session_user(services) if services.sign_in_mode == "huggingface" else None,
        "app_kwargs": {"middleware": access.middleware(services),
                       "lifespan": mcp_lifespan(demo, mcp)},
        # An MCP server for AI agents (off by default; never with sign-in on), its tools chosen in tabs/api.py.
        "mcp_server": mcp,
        "max_file_size": f"{settings.max_upload_mb}mb",
        # The data folder (database, media store, scratch) is never served, but for Gradio's cache, where
        # files leave as copies made for one user's request.
        "blocked_paths": [str(p) for p in settings.private_paths()],
        "allowed_paths": [],
        "theme": studio_theme(),
        "css": studio_css(),
        "js": FORCE_DARK_JS,
        "footer_links": ["api", "gradio"],
        "show_error": True,
        **overrides,
    })


# On SIGTERM (a restart) or Ctrl+C: how long running jobs get to stop, and then how long their clients get
# to receive the message, before the server closes (seconds; container managers kill after about 10).
STOP_JOBS_S, DELIVER_S = 5.0, 1.0


def stop_gracefully(services) -> None:
    """On SIGTERM (a restart) or Ctrl+C, running jobs stop first: each is recorded failed and its client is
    told "the server restarted; the job was interrupted"; then the signal does what it always did. (A kill -9
    cannot be caught: the next start records such jobs the same way, for /list_generations.)"""
    import signal
    import time

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def on_signal(signum, frame) -> None:
        signal.signal(signum, previous[signum])  # a second signal acts at once
        if services.jobs.interrupt_all(STOP_JOBS_S):
            time.sleep(DELIVER_S)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt  # Gradio closes its server on this
        os.kill(os.getpid(), signum)

    for sig in previous:
        signal.signal(sig, on_signal)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if argv[:1] == ["users"]:  # python app.py users add NAME [--admin] | list | disable NAME ...
        from users_cli import main as users_main

        raise SystemExit(users_main(argv[1:]))
    settings = Settings.from_args(argv)
    services, demo = create(settings)
    if settings.model_idle_seconds:
        services.start_housekeeping()
    services.start_cache_expiry()
    stop_gracefully(services)
    launch(demo, services)


if __name__ == "__main__":
    main(sys.argv[1:])
