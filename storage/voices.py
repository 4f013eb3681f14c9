"""Voice profiles: rows plus their files (reference clips, analysed model) in the media store."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete
from sqlmodel import select

from core.errors import InputError
from storage.library import ANONYMOUS, Actor, Forbidden, Library, NotFound, clean_name, owned_by
from storage.models import ConsentPrompt, Share, VoiceProfile, VoiceProfileFile, utcnow

# How long a consent prompt may be read after it was made, seconds.
PROMPT_TTL_S = 30 * 60


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True)
class NewClip:
    """A checked reference clip waiting in scratch (canonical FLAC)."""

    path: Path
    name: str
    duration_s: float
    meta: dict


@dataclass(frozen=True)
class Consent:
    """How a new profile's speaker consented: "spoken" (with the prompt read, the recording and the
    check's figures) or "attested"."""

    method: str
    record: dict = field(default_factory=dict)
    prompt_id: int | None = None
    recording: NewClip | None = None


# The figures of a profile that someone it is shared with sees: what the voice is like, nothing of
# its recordings (their names, lengths and measurements, nor the words said in them).
SHARED_STATS = ("language", "base_voice", "f0_median_hz", "f0_range_hz", "reference_seconds",
                "similarity_to_reference")


def profile_json(p: VoiceProfile, clips: list[VoiceProfileFile] = (), shared_by: str | None = None) -> dict:
    """`shared_by`: the owner's user name when the profile is shared with the reader, who may speak
    with it but sees nothing of its references (see SHARED_STATS)."""
    stats = {k: v for k, v in (p.stats or {}).items() if k in SHARED_STATS} if shared_by else p.stats
    return {
        "id": p.id, "name": p.name, "engine": p.engine, "base_voice": p.base_voice, "stats": stats,
        "voice": f"profile:{p.id}",
        "references": [] if shared_by else [{"name": c.name, "duration_s": c.duration_s, **c.meta}
                                            for c in clips if c.role == "reference"],
        "shared": {"role": "speak", "by": shared_by} if shared_by else None,
        "consent_by": p.consent_by,
        "consent": {"method": p.consent_method or "not recorded",
                    **({k: v for k, v in (p.consent or {}).items() if k in ("wer", "similarity", "prompt")}
                       if not shared_by else {})},
        "consent_at": p.consent_at.isoformat(timespec="seconds") if p.consent_at else None,
        "created_at": p.created_at.isoformat(timespec="seconds"),
        "updated_at": p.updated_at.isoformat(timespec="seconds"),
    }


class VoiceProfiles:
    def __init__(self, library: Library) -> None:
        self.lib = library

    @staticmethod
    def _visible(p: VoiceProfile | None, actor: Actor) -> bool:
        return p is not None and p.owner_id == actor.user_id

    def _shared_ids(self, actor: Actor):
        return select(Share.object_id).where(Share.kind == "voice", Share.user_id == actor.user_id)

    def list(self, actor: Actor = ANONYMOUS) -> list[VoiceProfile]:
        """The actor's profiles and those shared with them (see `shared_with`)."""
        cond = owned_by(VoiceProfile.owner_id, actor)
        if actor.user_id is not None:
            cond = cond | VoiceProfile.id.in_(self._shared_ids(actor))
        with self.lib.session() as s:
            return list(s.exec(select(VoiceProfile).where(cond).order_by(VoiceProfile.name, VoiceProfile.id)).all())

    def shared_with(self, actor: Actor) -> dict[int, str]:
        """Profile id -> owner's user name, for the profiles others have shared with the actor."""
        return {oid: owner for oid, (_, owner) in self.lib.shared_with(actor, "voice").items()}

    def get(self, ref, actor: Actor = ANONYMOUS, need: str = "owner") -> VoiceProfile:
        """By id, "profile:<id>", or exact name (the actor's own first). need="speak" accepts a profile
        shared with the actor; "owner" (to change or delete it) does not."""
        text = str(ref).strip()
        if text.startswith("profile:"):
            text = text.split(":", 1)[1]
        with self.lib.session() as s:
            if text.isdigit():
                p = s.get(VoiceProfile, int(text))
            else:
                named = select(VoiceProfile).where(VoiceProfile.name == text)
                p = s.exec(named.where(owned_by(VoiceProfile.owner_id, actor)).order_by(VoiceProfile.id)).first()
                if p is None and actor.user_id is not None:
                    p = s.exec(named.where(VoiceProfile.id.in_(self._shared_ids(actor)))
                               .order_by(VoiceProfile.id)).first()
            shared = (p is not None and not self._visible(p, actor) and actor.user_id is not None
                      and s.exec(self._shared_ids(actor).where(Share.object_id == p.id)).first() is not None)
        if not self._visible(p, actor) and not shared:
            raise NotFound(f"there is no voice profile {ref!r}; see /list_voices")
        if shared and need != "speak":
            raise Forbidden(f"the voice {p.name!r} is shared with you to speak with; only its owner can change it")
        return p

    def files(self, profile_id: int) -> list[VoiceProfileFile]:
        with self.lib.session() as s:
            return list(s.exec(select(VoiceProfileFile).where(VoiceProfileFile.profile_id == profile_id)
                               .order_by(VoiceProfileFile.id)).all())

    def model_bytes(self, profile: VoiceProfile) -> bytes:
        (f,) = [f for f in self.files(profile.id) if f.role == "model"]
        return self.lib.store.local_path(f.sha256, f.ext).read_bytes()

    def reference_paths(self, profile: VoiceProfile) -> list[tuple[Path, str]]:
        return [(self.lib.store.local_path(f.sha256, f.ext), f.name) for f in self.files(profile.id)
                if f.role == "reference"]

    # ------------------------------------------------------------ spoken consent

    def new_prompt(self, speaker: str, text: str, actor: Actor = ANONYMOUS) -> ConsentPrompt:
        with self.lib.session() as s:
            row = ConsentPrompt(owner_id=actor.user_id, speaker=speaker[:80], text=text)
            s.add(row)
            s.commit()
            s.refresh(row)
            return row

    def open_prompt(self, prompt_id, actor: Actor = ANONYMOUS) -> ConsentPrompt:
        """The actor's unused prompt made in the last PROMPT_TTL_S seconds (NotFound otherwise, the
        same for someone else's prompt as for one that does not exist)."""
        try:
            pid = int(prompt_id)
        except (TypeError, ValueError):
            raise NotFound(f"there is no consent prompt {prompt_id!r}; ask for one with /consent_prompt") from None
        with self.lib.session() as s:
            row = s.get(ConsentPrompt, pid)
        if row is None or row.owner_id != actor.user_id:
            raise NotFound(f"there is no consent prompt {prompt_id!r}; ask for one with /consent_prompt")
        if row.used_at is not None:
            raise InputError("this consent prompt was already used; ask for a new one with /consent_prompt "
                             "and read the new sentence")
        age = (utcnow() - _aware(row.created_at)).total_seconds()
        if age > PROMPT_TTL_S:
            raise InputError(f"this consent prompt expired ({PROMPT_TTL_S // 60} minutes); ask for a new one "
                             "with /consent_prompt")
        return row

    def save(self, *, name: str, clips: list[NewClip], model: bytes, base_voice: str, stats: dict,
             embedding: list[float], actor: Actor = ANONYMOUS, profile_id: int | None = None,
             consent: Consent | None = None) -> VoiceProfile:
        """Create a profile (or, with profile_id, add clips and replace its model). All or nothing.
        A new profile takes its consent record (`consent`); a spoken consent's prompt is marked used
        and its recording kept with the references, in the same transaction."""
        lib = self.lib
        work = lib.store.new_scratch_dir("voice-")
        added: set[tuple[str, str]] = set()
        old_model: set[tuple[str, str]] = set()
        try:
            model_path = work / "model.npz"
            model_path.write_bytes(model)
            with lib.session() as s:
                if profile_id is None:
                    consent = consent or Consent("attested")
                    p = VoiceProfile(name=clean_name(name, "voice name"), owner_id=actor.user_id,
                                     consent_by=actor.username or "anonymous", consent_at=utcnow(),
                                     consent_method=consent.method, consent=dict(consent.record))
                    s.add(p)
                    s.flush()
                    if consent.prompt_id is not None:
                        prompt = s.get(ConsentPrompt, consent.prompt_id)
                        if prompt is None or prompt.used_at is not None or prompt.owner_id != actor.user_id:
                            raise InputError("this consent prompt was already used; ask for a new one")
                        prompt.used_at = utcnow()
                        s.add(prompt)
                    if consent.recording is not None:
                        clips = [*clips, consent.recording]
                else:
                    p = s.get(VoiceProfile, profile_id)
                    if not self._visible(p, actor):
                        raise NotFound(f"there is no voice profile {profile_id!r}; see /list_voices")
                    for f in s.exec(select(VoiceProfileFile).where(VoiceProfileFile.profile_id == p.id,
                                                                   VoiceProfileFile.role == "model")).all():
                        old_model.add((f.sha256, f.ext))
                        s.delete(f)
                lib.check_room(Actor(user_id=p.owner_id), sum(c.path.stat().st_size for c in clips)
                               + len(model), s)
                p.base_voice, p.stats, p.embedding, p.updated_at = base_voice, stats, list(embedding), utcnow()
                s.add(p)
                for role, path, fname, dur, meta in (
                    [("consent" if consent is not None and c is consent.recording else "reference",
                      c.path, c.name, c.duration_s, c.meta) for c in clips]
                    + [("model", model_path, "model.npz", None, {})]
                ):
                    sha, size, created = lib.store.put(path, path.suffix)
                    if created:
                        added.add((sha, path.suffix))
                    s.add(VoiceProfileFile(profile_id=p.id, role=role, name=fname[:255], sha256=sha,
                                           ext=path.suffix, size_bytes=size, duration_s=dur, meta=meta))
                s.commit()
                s.refresh(p)
        except Exception:
            lib.drop_unreferenced(added)
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
        lib.drop_unreferenced(old_model)
        return p

    def rename(self, ref, name: str, actor: Actor = ANONYMOUS) -> VoiceProfile:
        p = self.get(ref, actor)
        with self.lib.session() as s:
            p = s.get(VoiceProfile, p.id)
            p.name, p.updated_at = clean_name(name, "voice name"), utcnow()
            s.add(p)
            s.commit()
            s.refresh(p)
        return p

    def delete(self, ref, actor: Actor = ANONYMOUS) -> None:
        p = self.get(ref, actor)
        files = {(f.sha256, f.ext) for f in self.files(p.id)}
        with self.lib.session() as s:
            s.exec(delete(VoiceProfileFile).where(VoiceProfileFile.profile_id == p.id))
            s.exec(delete(Share).where(Share.kind == "voice", Share.object_id == p.id))
            s.exec(delete(VoiceProfile).where(VoiceProfile.id == p.id))
            s.commit()
        self.lib.drop_unreferenced(files)
