"""Text generation through an OpenAI-compatible chat API: OpenAI itself, or a local server
(Ollama, llama.cpp, vLLM, LM Studio ...) reached through OPENAI_BASE_URL.

Used for lyrics and slide decks when a language model is configured; without one, the callers use
their embedded writers. Every failure (nothing configured, key rejected, server down, quota, empty
answer) becomes BackendUnavailable with a message a user can act on and never the API key.
"""

from __future__ import annotations

import importlib.util
import logging
import re

from core.errors import BackendUnavailable, InputError
from engines.backend import Availability, Backend, Provenance
from engines.openai_api import DEFAULT_BASE_URL, NO_KEY, base_url, translate_error

log = logging.getLogger(__name__)

NOT_CONFIGURED = "no language model configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for a local server)"
# Retries on connection errors, 429 and 5xx, with the client's back-off.
MAX_RETRIES = 2
# Longest prompt accepted (system + user), in characters; far below any model's context window.
MAX_PROMPT_CHARS = 100_000
# Reasoning models served locally often put their deliberation in <think> blocks before the answer.
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def _is_official(url: str) -> bool:
    return url.lower().startswith(DEFAULT_BASE_URL.rsplit("/", 1)[0])


def _api_key(settings) -> str | None:
    """The key to send, or None when nothing is configured. A local server may need no key."""
    key = (settings.openai_api_key or "").strip()
    if key:
        return key
    if (settings.openai_base_url or "").strip() and not _is_official(base_url(settings)):
        return NO_KEY
    return None


def available(settings) -> Availability:
    """Whether a language model is configured. Cheap: nothing is sent (the server is checked when used)."""
    if importlib.util.find_spec("openai") is None:
        return Availability(False, "the openai package is not installed (pip install -r requirements.txt)")
    if _api_key(settings) is None:
        return Availability(False, NOT_CONFIGURED)
    return Availability(True, f"{settings.openai_model} at {base_url(settings)} (online; checked when used)")


class OpenAICompatibleText(Backend):
    """The text backend: the chat model of OpenAI or of any OpenAI-compatible server."""

    kind = "text"
    name = "openai-compatible"
    tier = "cloud"
    licence = "the server's terms (OpenAI terms of use for api.openai.com)"

    def availability(self, settings) -> Availability:
        return available(settings)

    def provenance(self, settings) -> Provenance:
        return Provenance(settings.openai_model, self.licence)


def complete(settings, system: str, user: str, *, max_tokens: int = 900, temperature: float = 0.8,
             timeout_s: float = 60) -> str:
    """Ask the configured chat model; return its answer as plain text.

    `system` sets the role and the rules, `user` is the request. `max_tokens` caps the answer's length
    (in tokens), `temperature` (0..2) its randomness, `timeout_s` the wait for one request in seconds.
    Raises BackendUnavailable when no model is configured or the server cannot answer, InputError for
    an empty request or out-of-range parameters.
    """
    system, user = (system or "").strip(), (user or "").strip()
    if not user:
        raise InputError("there is nothing to ask the language model: the request is empty")
    if len(system) + len(user) > MAX_PROMPT_CHARS:
        raise InputError(f"the request to the language model has {len(system) + len(user)} characters; "
                         f"at most {MAX_PROMPT_CHARS} are sent")
    if not 0.0 <= float(temperature) <= 2.0:
        raise InputError(f"temperature must be between 0 and 2, got {temperature}")
    if int(max_tokens) < 1:
        raise InputError(f"max_tokens must be at least 1, got {max_tokens}")
    key = _api_key(settings)
    if key is None:
        raise BackendUnavailable(NOT_CONFIGURED)
    url, model = base_url(settings), settings.openai_model

    import openai

    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    try:
        with openai.OpenAI(api_key=key, base_url=url, timeout=timeout_s, max_retries=MAX_RETRIES) as client:
            response = client.chat.completions.create(model=model, messages=messages, max_tokens=int(max_tokens),
                                                      temperature=float(temperature))
    except openai.APIError as e:
        raise translate_error(e, server="language model server", url=url, key=key, model=model, endpoint="chat",
                              timeout_s=timeout_s, settings_hint="OPENAI_BASE_URL and OPENAI_MODEL") from None

    choices = getattr(response, "choices", None) or []
    message = choices[0].message if choices else None
    text = _THINK.sub("", (message.content if message is not None else None) or "").strip()
    if not text:
        raise BackendUnavailable(f"the language model {model!r} at {url} returned an empty answer; try again "
                                 "or choose another model")
    if choices[0].finish_reason == "length":
        log.info("the answer of %s was cut at %d tokens", model, max_tokens)
    return text


__all__ = ["DEFAULT_BASE_URL", "NOT_CONFIGURED", "OpenAICompatibleText", "available", "complete"]
