"""Digital Clone Studio: assembles the tabs and launches. `python app.py --help` lists the flags."""

from __future__ import annotations

import logging
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from settings import Settings


def create(settings: Settings):
    """Build the services (recovering from any crash) and the UI, without launching."""
    from services import build_services
    from tabs import build_app

    services = build_services(settings)
    demo = build_app(services)
    demo.queue(default_concurrency_limit=2, max_size=64)
    return services, demo


def launch(demo, services, **overrides) -> None:
    from tabs import access, hf_oauth
    from tabs.theme import FORCE_DARK_JS, studio_css, studio_theme

    settings = services.settings
    demo.launch(**{
        "server_name": settings.server_name,
        "server_port": settings.server_port,
        "share": settings.share,
        # Accounts in the database (AUTH pairs are seeded into it); failures slowed down and logged.
        "auth": access.login_check(services) if services.sign_in_mode == "accounts" else None,
        "auth_message": "Sign in with your studio account." if services.sign_in_mode == "accounts" else None,
        # Hugging Face sign-in: Gradio's OAuth session, turned into a studio account (401 without one).
        "auth_dependency": hf_oauth.session_user(services) if services.sign_in_mode == "huggingface" else None,
        "app_kwargs": {"middleware": access.middleware(services)},
        "max_file_size": f"{settings.max_upload_mb}mb",
        # The data folder (database, media store) is never served; files leave through copies.
        "blocked_paths": [str(settings.data_dir.resolve())],
        "allowed_paths": [],
        "theme": studio_theme(),
        "css": studio_css(),
        "js": FORCE_DARK_JS,
        "footer_links": ["api", "gradio"],
        "show_error": True,
        **overrides,
    })


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
    launch(demo, services)


if __name__ == "__main__":
    main(sys.argv[1:])
