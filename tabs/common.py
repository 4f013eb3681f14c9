"""What every tab shares: turning engine errors into gr.Error, progress, who is acting,
and handing files to and from Gradio safely."""

from __future__ import annotations

import functools
import logging
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from core.errors import EngineError, InputError
from core.progress import CancelToken, ProgressFn
from storage.library import Actor
from tabs.access import copy_owner

log = logging.getLogger(__name__)


def actor_from(request: gr.Request | None, services) -> Actor:
    """Who is acting: the signed-in account (sign-in on), else the local user; with the request's
    address and user agent for the security log. Raises NotSignedIn (a clear gr.Error through
    `user_errors`) for a request without a valid session while sign-in is on. No request at all
    (a direct call in a test) acts as nobody in particular."""
    if request is None:
        return Actor()
    headers = getattr(request, "headers", {}) or {}
    client = getattr(request, "client", None)
    return services.accounts.actor(
        getattr(request, "username", None), signed_in=services.sign_in,
        ip=(getattr(client, "host", "") or "") if client else "",
        user_agent=(headers.get("user-agent", "") if hasattr(headers, "get") else "")[:512],
    )


def user_errors(fn: Callable) -> Callable:
    """Engine errors become a gr.Error with their message; anything else is logged, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except EngineError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception as e:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Something went wrong on the server ({type(e).__name__}). It has been logged.",
                           print_exception=False) from None

    return wrapper


def stop_key(request: gr.Request | None, action: str) -> str:
    """The key a Stop button and its long action share: the signed-in user, the browser session and
    the action (the session hash is chosen by the browser, so it alone must not reach another
    user's job)."""
    user = getattr(request, "username", None) or ""
    return f"{user}:{getattr(request, 'session_hash', None) or 'no-session'}:{action}"


def stop_token(services, request: gr.Request | None, action: str) -> CancelToken:
    """The cancel token a long action passes to its workflow; its Stop button sets it."""
    return services.jobs.token(stop_key(request, action))


def stop_button(elem_id: str) -> gr.Button:
    """The Stop button of a long action (wired with `wire_stop` once the action's event exists)."""
    return gr.Button("Stop", variant="stop", elem_id=elem_id, min_width=90, scale=1)


def wire_stop(services, button: gr.Button, event, action: str) -> None:
    """Clicking `button` ends the Gradio `event` and tells its job to stop at the next step (the
    job is recorded "cancelled" and its partial files removed)."""

    def on_stop(request: gr.Request):
        if services.jobs.stop(stop_key(request, action)):
            gr.Info("Stopped: the job ends at its next step and keeps nothing half-made.")

    button.click(on_stop, None, None, cancels=[event], api_visibility="private")


def gradio_progress(progress: gr.Progress) -> ProgressFn:
    """Adapt an engine's progress callback to a gr.Progress bar."""

    def report(done: float, total: float, message: str = "") -> None:
        progress((done / total) if total else 0.0, desc=message or None)

    return report


def uploaded_file(file: Any, what: str = "file", actor: Actor | None = None) -> tuple[Path, str]:
    """Path and original name of a file Gradio received, refusing paths outside its upload folder.

    API endpoints get the raw payload, so a client could name any server path; only
    files Gradio itself stored for an upload are accepted, and a download copy only by the
    user it was made for.
    """
    if file is None or file == "":
        raise InputError(f"no {what} was given")
    if isinstance(file, dict):
        path, name = file.get("path"), file.get("orig_name")
    else:
        path, name = getattr(file, "path", file), getattr(file, "orig_name", None)
    if not isinstance(path, str) or not path:
        raise InputError(f"the {what} is not a file upload")
    p = Path(path).resolve()
    root = Path(get_upload_folder()).resolve()
    owner = copy_owner(p)
    if (not p.is_relative_to(root) or not p.is_file()
            or (owner is not None and owner != _folder_id(actor or Actor()))):
        raise InputError(f"the {what} must be uploaded with the request (server paths are not accepted)")
    return p, Path(name or p.name).name


def _folder_id(actor: Actor) -> int:
    return actor.user_id or 0


def private_folder(actor: Actor) -> Path:
    """A fresh folder under Gradio's upload folder for files made for this user's request. Its name
    carries the user's id (the access middleware serves it to that user only) and 128 random bits."""
    folder = Path(get_upload_folder()) / f"dl-u{_folder_id(actor)}-{secrets.token_urlsafe(16)}"
    folder.mkdir(parents=True)
    return folder


def download_copy(src: Path, name: str, actor: Actor) -> str:
    """Copy a stored file to a fresh private folder (see `private_folder`) under a friendly name, for
    Gradio to serve. The media store itself is never exposed; Gradio serves only this copy."""
    safe = "".join(c if c.isalnum() or c in "-_. " else "_" for c in Path(name).name).strip() or src.name
    if not Path(safe).suffix:
        safe += src.suffix
    dest = private_folder(actor) / safe
    shutil.copyfile(src, dest)
    return str(dest)
