"""What the language model and the OpenAI speech backend share about OpenAI-compatible servers:
the base URL, and one translation of the client's errors into messages a user can act on that
never show the API key (some servers echo the key they were sent)."""

from __future__ import annotations

import re

from core.errors import BackendUnavailable

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Sent as the key to a local server that needs none (the client refuses an empty key).
NO_KEY = "not-needed"
HIDDEN = "[key hidden]"
# Anything that looks like an API key in a server's message is replaced before it is shown.
_KEY_LIKE = re.compile(r"\b(sk|key|api[-_]?key)[-_][\w\-*.]{3,}", re.IGNORECASE)
# Longest server explanation passed on, in characters.
MAX_REASON_CHARS = 300


def base_url(settings) -> str:
    return (settings.openai_base_url or DEFAULT_BASE_URL).strip().rstrip("/")


def hide_key(text: str, key: str | None) -> str:
    """`text` with the key, and anything that looks like a key, replaced by "[key hidden]"."""
    if key and key != NO_KEY:
        text = text.replace(key, HIDDEN)
    return _KEY_LIKE.sub(HIDDEN, text)


def server_reason(error: Exception, key: str | None) -> str:
    """The server's own explanation from an openai error, shortened, with the key hidden."""
    body = getattr(error, "body", None)
    reason = ""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            reason = str(inner.get("message") or "")
        elif isinstance(inner, str):
            reason = inner
    reason = reason or str(getattr(error, "message", "") or error)
    return hide_key(reason, key)[:MAX_REASON_CHARS]


def _ladder(openai, refused: type[Exception]) -> list[tuple[tuple[type[Exception], ...], type[Exception], str]]:
    """(client errors, what they become, message), first match wins: a timeout is a connection error."""
    return [
        ((openai.AuthenticationError,), BackendUnavailable,
         "the {server} at {url} rejected the API key (401): {reason}; check OPENAI_API_KEY"),
        ((openai.PermissionDeniedError,), BackendUnavailable,
         "the {server} at {url} refused access to {model!r} (403): {reason}"),
        ((openai.RateLimitError,), BackendUnavailable, "rate limit or quota exceeded at {url} (429): {reason}"),
        ((openai.NotFoundError,), BackendUnavailable,
         "{url} has no {endpoint} endpoint or no model {model!r} (404): {reason}; check {settings_hint}"),
        ((openai.BadRequestError, openai.UnprocessableEntityError), refused,
         "the {server} at {url} refused the request ({status}): {reason}"),
        ((openai.APITimeoutError,), BackendUnavailable, "the {server} at {url} did not answer within {timeout_s:g} s"),
        ((openai.APIConnectionError,), BackendUnavailable,
         "the {server} at {url} could not be reached: check the network or OPENAI_BASE_URL"),
        ((openai.APIStatusError,), BackendUnavailable, "the {server} at {url} failed ({status}): {reason}"),
        ((Exception,), BackendUnavailable, "the {server} at {url} sent an answer that could not be read: {reason}"),
    ]


def translate_error(error: Exception, *, server: str, url: str, key: str | None, model: str, endpoint: str,
                    timeout_s: float, settings_hint: str = "OPENAI_BASE_URL",
                    refused: type[Exception] = BackendUnavailable) -> Exception:
    """The exception to raise (`from None`, so the client's own, which may quote the key, is
    dropped) for an error of the `openai` client.

    `server` names the server in messages ("language model server"), `endpoint` the API it lacks
    on a 404 ("chat"), `settings_hint` the settings to check then; `refused` is the type for a
    request the server refuses as malformed (400/422): InputError when the user's input is to
    blame, BackendUnavailable when the app built the request."""
    import openai

    facts = {"server": server, "url": url, "model": model, "endpoint": endpoint, "timeout_s": timeout_s,
             "settings_hint": settings_hint, "status": getattr(error, "status_code", ""),
             "reason": server_reason(error, key)}
    kind, message = next((kind, message) for errors, kind, message in _ladder(openai, refused)
                         if isinstance(error, errors))
    return kind(message.format(**facts))
