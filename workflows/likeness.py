"""Likeness attestation: a talking head of an uploaded photo (the Talking Head tab, a deck's presenter)
needs the user's word that they may use that person's likeness (it is them, or they have the person's
permission). The request is refused without it; with it, the attestation is kept in the generation's
parameters and logged as a security event with the photo's name and hash."""

from __future__ import annotations

from core.errors import InputError
from storage.library import Actor, Library
from storage.models import Asset

EVENT = "likeness_attestation"


def require(attested, photo: str) -> bool:
    """`attested` as given by the user (True only for a true boolean), or a clear refusal."""
    if attested is not True:
        raise InputError(f"{photo} animates a real person's face: confirm that you may use this likeness (it is "
                         "you, or you have their permission) by ticking the likeness box (API: "
                         "likeness_consent=true)")
    return True


def log(library: Library, actor: Actor, generation_id: int, kind: str, photo: Asset) -> None:
    library.log_event(EVENT, actor, generation_id=int(generation_id), kind=kind, photo=photo.name,
                      sha256=photo.sha256)
