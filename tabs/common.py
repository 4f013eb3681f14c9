"""What every tab shares: turning engine errors into gr.Error, progress, who is acting,
and handing files to and from Gradio safely."""

from __future__ import annotations

import functools
import inspect
import logging
import math
import secrets
import shutil
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from gradio import FileData
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


# Whole numbers the API takes: what a 64-bit database integer holds.
INT_RANGE = (-(2**63), 2**63 - 1)


class ArgumentError(InputError):
    """A client API call gave a parameter a value of the wrong type."""


def checked_arguments(fn: Callable) -> Callable:
    """Check every argument of a client API call against `fn`'s type hints before it runs.

    The API hands the raw JSON values to the function (no component converts them), so "fast" for a
    float or a dict for a str would otherwise fail deep inside as an internal error. Here it is a clear
    message naming the parameter and the type it takes: "speed must be a number (float); got 'fast'
    (a string)". Whole numbers given as 25.0 or "25" are taken, as are numbers given as strings; NaN and
    infinities are refused; a None for a parameter with a default takes the default. Applied to every
    endpoint where it is registered (tabs/api.py), from the signatures, so a new endpoint is covered."""
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    params = {n: p for n, p in sig.parameters.items() if n in hints and hints[n] is not gr.Request}

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = sig.bind_partial(*args, **kwargs)
        for name, value in list(bound.arguments.items()):
            p = params.get(name)
            if p is None:
                continue
            try:
                bound.arguments[name] = _check_value(name, value, hints[name], p.default)
            except ArgumentError as e:
                raise gr.Error(str(e), print_exception=False) from None
        return fn(*bound.args, **bound.kwargs)

    return wrapper


def _union_args(hint) -> tuple:
    return typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)


def _check_value(name: str, value: Any, hint, default: Any) -> Any:
    options = _union_args(hint)
    optional = type(None) in options
    options = tuple(o for o in options if o is not type(None))
    if value is None:
        if optional:
            return None
        if default is not inspect.Parameter.empty:
            return default
        if str in options:
            return ""
        raise ArgumentError(f"{name} is required: give {_expected(options)}")
    if optional and isinstance(value, str) and value == "" and str not in options:
        return None  # an empty field for an optional id or number
    for option in options:
        ok, converted = _convert(value, option)
        if ok:
            return converted
    number = _as_number(value)
    if number is not None and any(o in (int, float) for o in options):
        if not _finite(number):
            raise ArgumentError(f"{name} must be a finite number ({_type_names(options)}); got {value!r}")
        if int in options and number == int(number):
            raise ArgumentError(f"{name} is out of range ({_short(value)}); whole numbers (int) from "
                                f"{INT_RANGE[0]} to {INT_RANGE[1]} are accepted")
        if float in options:
            raise ArgumentError(f"{name} is too large ({_short(value)}) for a number (float)")
    raise ArgumentError(f"{name} must be {_expected(options)}" + (" or null" if optional else "")
                        + f"; got {_short(value)} ({_json_type(value)})")


def _as_number(value: Any) -> int | float | None:
    """The value as a number when it is one (or a string holding one); None otherwise (booleans too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value.strip())
            except ValueError:
                continue
    return None


def _finite(number: int | float) -> bool:
    return isinstance(number, int) or math.isfinite(number)


def _convert(value: Any, option) -> tuple[bool, Any]:
    """(True, the value as `option`) when it is one, else (False, None)."""
    if option is str:
        return isinstance(value, str), value
    if option is bool:
        return isinstance(value, bool), value
    if option in (int, float):
        number = _as_number(value)
        if number is None or not _finite(number):
            return False, None
        if option is float:
            try:
                return True, float(number)
            except OverflowError:  # an int past the largest float
                return False, None
        if isinstance(number, float):
            if number != int(number):
                return False, None
            number = int(number)
        return INT_RANGE[0] <= number <= INT_RANGE[1], number
    origin = typing.get_origin(option)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False, None
        item = (typing.get_args(option) or (Any,))[0]
        return all(_convert(v, item)[0] for v in value), list(value)
    if option is FileData:
        # A file payload ({"path": ..., "meta": {"_type": "gradio.FileData"}}); uploaded_file() checks the rest.
        return isinstance(value, (dict, str, FileData)), value
    return True, value  # a type this check does not know: the function's own checks decide


def _expected(options: tuple) -> str:
    return " or ".join(_TYPE_WORDS.get(o, _TYPE_WORDS.get(typing.get_origin(o), getattr(o, "__name__", str(o))))
                       for o in options)


def _type_names(options: tuple) -> str:
    return " or ".join(getattr(o, "__name__", str(o)) for o in options)


_TYPE_WORDS = {
    str: "text (str)", int: "a whole number (int)", float: "a number (float)", bool: "true or false (bool)",
    list: "a list of files (each made with handle_file)", tuple: "a list",
    FileData: "a file (made with handle_file)",
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


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
    carries the user's id (the access middleware serves it to that user only) and 128 random bits.
    Like everything in Gradio's cache it expires (CACHE_MAX_AGE_S, see storage.cache)."""
    folder = Path(get_upload_folder()) / f"dl-u{_folder_id(actor)}-{secrets.token_urlsafe(16)}"
    folder.mkdir(parents=True)
    return folder


class Downloads:
    """The files one request hands out: copies of stored files, all in one private folder (see
    `private_folder`, made on first use), under friendly names; a file handed out twice is copied once.
    The media store itself is never exposed; Gradio serves only these copies, and does not copy them
    again (they are in its cache already)."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self._folder: Path | None = None
        self._copies: dict[Path, str] = {}

    @property
    def folder(self) -> Path:
        """The request's private folder, for files made straight into it (zips)."""
        if self._folder is None:
            self._folder = private_folder(self.actor)
        return self._folder

    def copy(self, src: Path, name: str) -> str:
        """The path of a copy of `src` named `name` (made safe, with `src`'s extension when it has none)."""
        src = Path(src)
        if src in self._copies:
            return self._copies[src]
        safe = "".join(c if c.isalnum() or c in "-_. " else "_" for c in Path(name).name).strip() or src.name
        if not Path(safe).suffix:
            safe += src.suffix
        dest, n = self.folder / safe, 2
        while dest.exists():  # two files of the request with one name
            dest, n = self.folder / f"{Path(safe).stem} ({n}){Path(safe).suffix}", n + 1
        shutil.copyfile(src, dest)
        self._copies[src] = str(dest)
        return str(dest)


def with_sidecars(chosen: list, outputs: list) -> list:
    """The `chosen` outputs of a generation, then the Content Credentials sidecars (.c2pa, meta role
    "content-credentials") of those among them that keep theirs beside them (text and data files)."""
    names = {a.name for a in chosen}
    return [*chosen, *(a for a in outputs if a.meta.get("role") == "content-credentials"
                       and a.meta.get("for") in names)]


def download_copy(src: Path, name: str, actor: Actor) -> str:
    """A copy of one stored file for a request that hands out only this one (see `Downloads`)."""
    return Downloads(actor).copy(src, name)


def licence_md(generation) -> str:
    """The licence flag shown under an output: may it be used commercially, and under which licences."""
    from storage.library import licence_flag

    flag = licence_flag(generation.model_licence)
    icon = {"yes": "✅", "check": "⚠️", "no": "⛔"}[flag.commercial_use]
    text = f"\n\n{icon} **{flag.note}**"
    if flag.licences:
        text += "  \nModel licences: " + "; ".join(flag.licences)
    return text


def warn_non_commercial(lines: list[str]) -> str:
    """A warning (a toast in the browser, a log message to an API client) when outputs about to leave
    the studio may not be used commercially; the same text for a status line, or ""."""
    if not lines:
        return ""
    text = ("Not for commercial use: " + "; ".join(lines[:5])
            + (f"; and {len(lines) - 5} more" if len(lines) > 5 else ""))
    gr.Warning(text)
    return text


# The likeness attestation a talking head of an uploaded photo needs (kept with the generation, logged).
LIKENESS_LABEL = "I may use this person's likeness: it is me, or I have their permission"


def suggested_md(services, request, kind: str) -> str:
    """"Suggested for you" from the user's ratings: the settings that differ from the defaults, with why."""
    from workflows.preferences import suggestions

    found = [s for s in suggestions(services.library, kind, actor_from(request, services)) if s.value != s.default]
    if not found:
        return ""
    return "**Suggested for you** (from your ratings):\n" + "\n".join(
        f"- {s.label}: **{s.value}** ({s.reason})" for s in found)
