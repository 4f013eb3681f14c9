"""Projects, their assets and history: the one place the UI and the jobs read and write.

Every write that adds files goes scratch -> media store -> row in one transaction;
if the row cannot be written, files this call added are removed again.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.errors import INTERRUPTED, InputError
from core.licences import LicenceFlag, commercial_use, split
from storage.intake import Limits, Probed, probe_upload
from storage.media import MediaStore
from storage.models import (
    Asset,
    Generation,
    GenerationAsset,
    JobStatus,
    MediaKind,
    Project,
    Rating,
    SecurityEvent,
    Share,
    User,
    VoiceProfileFile,
    utcnow,
)

if TYPE_CHECKING:
    from storage.object_media import ObjectMediaStore

log = logging.getLogger(__name__)

MAX_NAME = 200
DEFAULT_PROJECT_NAME = "Unsorted"


class NotFound(InputError):
    """A project or asset id that does not exist (or is not yours)."""


class Forbidden(InputError):
    """Something shared with the actor, but not for what they asked to do with it."""


class QuotaExceeded(InputError):
    """The actor's storage or running-jobs quota is reached."""


# What the actor may do with a project: a share makes them "viewer" (read, export) or "editor"
# (also add, generate into, delete assets); only the "owner" renames, deletes and shares it.
_RANK = {"viewer": 1, "editor": 2, "owner": 3}
_MAY_NOT = {"editor": "change", "owner": "rename, delete or share"}


@dataclass(frozen=True)
class Actor:
    """Who is acting, for ownership and the security log. Anonymous when auth is off."""

    user_id: int | None = None
    username: str = ""
    ip: str = ""
    user_agent: str = ""


ANONYMOUS = Actor()


def clean_name(name: str | None, what: str = "project name") -> str:
    """A name a user typed, its runs of white space folded to one space; InputError (calling it `what`) when it
    is empty or longer than MAX_NAME characters. Projects and voice profiles are named through it."""
    name = " ".join((name or "").split())
    if not name:
        raise InputError(f"the {what} is empty; give it a name (1 to {MAX_NAME} characters)")
    if len(name) > MAX_NAME:
        raise InputError(f"the {what} is {len(name)} characters long; at most {MAX_NAME} are allowed")
    return name


def owned_by(column, actor: Actor):
    """SQL condition: the row's owner column is the actor (no owner, for an actor who is nobody)."""
    return column.is_(None) if actor.user_id is None else column == actor.user_id


def _parse_id(value, what: str) -> int:
    if isinstance(value, bool):
        raise InputError(f"{what} must be a whole number")
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a whole number, got {value!r}") from None
    if n <= 0:
        raise InputError(f"{what} must be a positive number, got {n}")
    return n


def asset_json(a: Asset) -> dict:
    return {
        "id": a.id, "project_id": a.project_id, "kind": a.kind.value, "name": a.name,
        "sha256": a.sha256, "mime": a.mime, "size_bytes": a.size_bytes, "duration_s": a.duration_s,
        "width": a.width, "height": a.height, "sample_rate": a.sample_rate, "channels": a.channels,
        "meta": a.meta, "origin": a.origin, "created_at": a.created_at.isoformat(timespec="seconds"),
    }


def project_json(p: Project, asset_count: int | None = None, shared: tuple[str, str] | None = None) -> dict:
    """`shared`: (role, owner's user name) when the project is someone else's, shared with the reader."""
    d = {"id": p.id, "name": p.name, "owner_id": p.owner_id,
         "created_at": p.created_at.isoformat(timespec="seconds"),
         "updated_at": p.updated_at.isoformat(timespec="seconds"),
         "shared": {"role": shared[0], "by": shared[1]} if shared else None}
    if asset_count is not None:
        d["asset_count"] = asset_count
    return d


def generation_json(g: Generation, inputs: list[int] = (), outputs: list[int] = ()) -> dict:
    flag = licence_flag(g.model_licence) if g.status is JobStatus.succeeded else None
    return {
        "id": g.id, "project_id": g.project_id, "kind": g.kind, "params": g.params,
        "status": g.status.value, "progress": round(g.progress, 4), "progress_message": g.progress_message,
        "error": g.error, "backend": g.backend, "model": g.model, "model_licence": g.model_licence,
        "metrics": g.metrics,
        "created_at": g.created_at.isoformat(timespec="seconds"),
        "started_at": g.started_at.isoformat(timespec="seconds") if g.started_at else None,
        "finished_at": g.finished_at.isoformat(timespec="seconds") if g.finished_at else None,
        "seconds": g.seconds, "inputs": list(inputs), "outputs": list(outputs),
        # Whether its outputs may be used commercially ("yes", "check", "no"), by its models' licences.
        "commercial_use": flag.commercial_use if flag else None, "licence_note": flag.note if flag else "",
    }


def licence_flag(model_licence: str) -> LicenceFlag:
    return commercial_use(split(model_licence))


@dataclass
class StagedFile:
    """One upload of a request, checked and converted by intake, waiting in scratch to be stored."""

    probed: Probed
    # The name it was uploaded under.
    name: str
    # Its row, once `Library.store_staged` stored it (with the generation that uses it).
    asset: Asset | None = None


class Staged:
    """A request's uploads, every one checked by intake before any is stored.

        with library.stage(actor) as staged:
            photo = staged.add(portrait, MediaKind.photo, "the portrait must be an image")
            ...                       # every other check of the request
            jobs.run(..., uploads=staged)   # stored with the generation, in one transaction

    Nothing is stored until `Library.store_staged` (called by `JobRunner.run`); a refused upload is
    logged like any refused upload. The scratch folder goes when the block ends."""

    def __init__(self, library: Library, actor: Actor) -> None:
        self.library, self.actor = library, actor
        self.work = library.store.new_scratch_dir("request-")
        self.files: list[StagedFile] = []

    def add(self, file: tuple[Path, str], kind: MediaKind | None = None, why: str = "") -> StagedFile:
        """Check and convert one upload (path, original name); with `kind`, refuse another kind."""
        sub = self.work / str(len(self.files))
        sub.mkdir()
        item = StagedFile(self.library.probe(file[0], file[1], kind, why, self.actor, sub), Path(file[1] or "").name)
        self.files.append(item)
        return item

    def add_all(self, files: list[tuple[Path, str]], kind: MediaKind | None = None, why: str = "") -> list[StagedFile]:
        return [self.add(f, kind, why) for f in files]

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


class Library:
    def __init__(self, engine: Engine, store: MediaStore | ObjectMediaStore, limits: Limits) -> None:
        self.engine = engine
        self.store = store
        self.limits = limits

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    # ------------------------------------------------------------ projects

    def create_project(self, name: str, actor: Actor = ANONYMOUS) -> Project:
        p = Project(name=clean_name(name), owner_id=actor.user_id)
        with self.session() as s:
            s.add(p)
            s.commit()
            s.refresh(p)
        return p

    def get_project(self, project_id, actor: Actor = ANONYMOUS, need: str = "owner") -> Project:
        """The project, if the actor may do what `need` says ("viewer", "editor" or "owner") with it.
        NotFound, exactly as for a missing id, when it is neither theirs nor shared with them."""
        pid = _parse_id(project_id, "project_id")
        with self.session() as s:
            p = s.get(Project, pid)
            role = self._role(s, p, actor) if p is not None else None
        if role is None:
            raise NotFound(f"there is no project with id {pid}")
        if _RANK[role] < _RANK[need]:
            raise Forbidden(f"project {pid} is shared with you as {role}: you may not {_MAY_NOT[need]} it")
        return p

    @staticmethod
    def _role(s: Session, p: Project, actor: Actor) -> str | None:
        # Each user sees their own; rows without an owner only exist before the start-up adoption
        # (Accounts.adopt_unowned) and in tests that act as nobody in particular.
        if p.owner_id == actor.user_id:
            return "owner"
        if actor.user_id is None:
            return None
        return s.exec(select(Share.role).where(Share.kind == "project", Share.object_id == p.id,
                                               Share.user_id == actor.user_id)).first()

    def shared_with(self, actor: Actor, kind: str = "project") -> dict[int, tuple[str, str]]:
        """What others have shared with the actor: object id -> (role, the owner's user name)."""
        if actor.user_id is None:
            return {}
        with self.session() as s:
            rows = s.exec(select(Share.object_id, Share.role, User.username).join(User, User.id == Share.owner_id)
                          .where(Share.kind == kind, Share.user_id == actor.user_id)).all()
        return {oid: (role, owner) for oid, role, owner in rows}

    def list_projects(self, actor: Actor = ANONYMOUS) -> list[tuple[Project, int]]:
        """The actor's projects and those shared with them (see `shared_with`), latest changed first."""
        mine = owned_by(Project.owner_id, actor)
        if actor.user_id is not None:
            mine = mine | Project.id.in_(select(Share.object_id).where(Share.kind == "project",
                                                                        Share.user_id == actor.user_id))
        with self.session() as s:
            q = (
                select(Project, func.count(Asset.id))
                .where(mine)
                .join(Asset, Asset.project_id == Project.id, isouter=True)
                .group_by(Project.id)
                .order_by(Project.updated_at.desc(), Project.id.desc())
            )
            return list(s.exec(q).all())

    def project_or_default(self, project_id, actor: Actor = ANONYMOUS, need: str = "editor") -> Project:
        """The given project (the actor may add to it), or the actor's 'Unsorted' project when none is
        given (None, "" or 0)."""
        if project_id in (None, "", 0):
            return self.default_project(actor)
        return self.get_project(project_id, actor, need)

    def check_project(self, project_id, actor: Actor = ANONYMOUS, need: str = "editor") -> Project | None:
        """What `project_or_default` would give, without making anything: the project (the actor may do what
        `need` says with it), the actor's 'Unsorted' project when none is given, or None when that does not
        exist yet (it is made when something is stored into it). For checks before anything is stored."""
        if project_id in (None, "", 0):
            return self._find_default(actor)
        return self.get_project(project_id, actor, need)

    def _find_default(self, actor: Actor) -> Project | None:
        with self.session() as s:
            q = select(Project).where(Project.name == DEFAULT_PROJECT_NAME, owned_by(Project.owner_id, actor))
            return s.exec(q.order_by(Project.id)).first()

    def default_project(self, actor: Actor = ANONYMOUS) -> Project:
        """Where work done without a project goes (created on first use)."""
        return self._find_default(actor) or self.create_project(DEFAULT_PROJECT_NAME, actor)

    def rename_project(self, project_id, name: str, actor: Actor = ANONYMOUS) -> Project:
        p = self.get_project(project_id, actor)
        new = clean_name(name)
        with self.session() as s:
            p = s.get(Project, p.id)
            p.name, p.updated_at = new, utcnow()
            s.add(p)
            s.commit()
            s.refresh(p)
        return p

    def delete_project(self, project_id, actor: Actor = ANONYMOUS) -> None:
        p = self.get_project(project_id, actor)
        with self.session() as s:
            files = set(s.exec(select(Asset.sha256, Asset.ext).where(Asset.project_id == p.id)).all())
            # Explicit deletes (not only ON DELETE CASCADE) so behaviour is the same everywhere.
            gen_ids = select(Generation.id).where(Generation.project_id == p.id)
            s.exec(delete(GenerationAsset).where(GenerationAsset.generation_id.in_(gen_ids)))
            s.exec(delete(Generation).where(Generation.project_id == p.id))
            s.exec(delete(Asset).where(Asset.project_id == p.id))
            s.exec(delete(Share).where(Share.kind == "project", Share.object_id == p.id))
            s.exec(delete(Project).where(Project.id == p.id))
            s.commit()
        self.drop_unreferenced(files)

    def touch(self, s: Session, project_id: int) -> None:
        s.exec(update(Project).where(Project.id == project_id).values(updated_at=utcnow()))

    # ------------------------------------------------------------ assets

    def add_upload(self, project_id, src: Path, original_name: str, actor: Actor = ANONYMOUS) -> Asset:
        """Probe, convert and store an upload. On refusal nothing is stored and a security event is logged."""
        return self.add_uploads(project_id, [(src, original_name)], actor=actor)[0]

    def add_uploads(self, project_id, files: list[tuple[Path, str]], kind: MediaKind | None = None,
                    why: str = "", actor: Actor = ANONYMOUS) -> list[Asset]:
        """Probe every file first, then store them all in one transaction: all or nothing.

        With `kind`, a file of another kind is refused (`why` says what was expected)."""
        p = self.get_project(project_id, actor, "editor")
        with self.stage(actor) as staged:
            staged.add_all(files, kind, why)
            added: set[tuple[str, str]] = set()
            try:
                with self.session() as s:
                    rows = self.store_staged(s, p.id, staged, actor, added)
                    self.touch(s, p.id)
                    s.commit()
                    for r in rows:
                        s.refresh(r)
            except Exception:
                self.drop_unreferenced(added)
                raise
            return rows

    def stage(self, actor: Actor = ANONYMOUS) -> Staged:
        """A request's uploads, checked before any is stored (see `Staged`)."""
        return Staged(self, actor)

    def probe(self, src: Path, name: str, kind: MediaKind | None, why: str, actor: Actor, work: Path) -> Probed:
        """Intake of one upload into `work` (nothing stored); a refusal is logged as a security event."""
        try:
            pr = probe_upload(Path(src), name, self.limits, work)
            if kind is not None and pr.kind is not kind:
                raise InputError(f"'{Path(name or '').name}' is {pr.kind.value}, not {kind.value}"
                                 + (f": {why}" if why else ""))
        except InputError as e:
            self.log_event("upload_rejected", actor, name=Path(name or "").name, reason=str(e))
            raise
        return pr

    def store_staged(self, s: Session, project_id: int, staged: Staged, actor: Actor,
                     added: set[tuple[str, str]]) -> list[Asset]:
        """Store the staged uploads as assets in the caller's transaction (files newly stored are noted in
        `added`, for the caller to remove if it rolls back). Each item's `asset` is set."""
        rows = []
        for item in staged.files:
            if item.asset is None:
                item.asset = self.add_probed(project_id, item.probed, item.name, origin="upload", actor=actor,
                                             session=s, added=added)
            rows.append(item.asset)
        return rows

    def add_probed(self, project_id: int, probed: Probed, name: str, *, origin: str,
                   actor: Actor = ANONYMOUS, session: Session | None = None,
                   added: set[tuple[str, str]] | None = None) -> Asset:
        """Store a probed file and its row.

        With `session`, the row joins the caller's transaction, and files this call newly
        stored are noted in `added` so the caller can remove them if it rolls back.
        """
        self.check_room(actor, probed.path.stat().st_size, session)
        sha, size, created = self.store.put(probed.path, probed.ext)
        if created and added is not None:
            added.add((sha, probed.ext))
        asset = Asset(
            project_id=project_id, owner_id=actor.user_id, kind=probed.kind,
            name=Path(name or f"{probed.kind.value}{probed.ext}").name[:255], sha256=sha, ext=probed.ext,
            mime=probed.mime, size_bytes=size, duration_s=probed.duration_s, width=probed.width,
            height=probed.height, sample_rate=probed.sample_rate, channels=probed.channels,
            meta=probed.meta, origin=origin,
        )
        if session is not None:
            session.add(asset)
            session.flush()
            return asset
        try:
            with self.session() as s:
                s.add(asset)
                self.touch(s, project_id)
                s.commit()
                s.refresh(asset)
        except Exception:
            if created:
                self.drop_unreferenced({(sha, probed.ext)})
            raise
        return asset

    def stored_bytes(self, user_id: int | None, session: Session | None = None) -> int:
        """Bytes a user keeps stored: their assets and their voice profiles' files (each counted as
        stored, though the media store keeps one copy of identical files)."""
        from storage.models import VoiceProfile

        def total(s: Session) -> int:
            a = s.exec(select(func.coalesce(func.sum(Asset.size_bytes), 0)).where(Asset.owner_id == user_id)).one()
            v = s.exec(select(func.coalesce(func.sum(VoiceProfileFile.size_bytes), 0))
                       .join(VoiceProfile, VoiceProfile.id == VoiceProfileFile.profile_id)
                       .where(VoiceProfile.owner_id == user_id)).one()
            return int(a) + int(v)

        if session is not None:
            return total(session)
        with self.session() as s:
            return total(s)

    def check_room(self, actor: Actor, adding_bytes: int = 0, session: Session | None = None) -> None:
        """QuotaExceeded when storing `adding_bytes` more would take the actor past their storage quota
        (with 0: when they are already at it). `session` counts rows it has added but not committed."""
        limit = self.limits.max_user_bytes
        if not limit or actor.user_id is None:
            return
        used = self.stored_bytes(actor.user_id, session)
        if used + adding_bytes > limit or (adding_bytes == 0 and used >= limit):
            mb = 1024 * 1024
            raise QuotaExceeded(f"your storage is full: {used / mb:.1f} MB of your {limit / mb:.0f} MB are used"
                                + (f" and this needs {adding_bytes / mb:.1f} MB more" if adding_bytes else "")
                                + "; delete files, projects or voice profiles to make room")

    def list_assets(self, project_id, actor: Actor = ANONYMOUS) -> list[Asset]:
        p = self.get_project(project_id, actor, "viewer")
        with self.session() as s:
            return list(s.exec(select(Asset).where(Asset.project_id == p.id).order_by(Asset.id)).all())

    def get_asset(self, asset_id, actor: Actor = ANONYMOUS, need: str = "viewer") -> Asset:
        aid = _parse_id(asset_id, "asset_id")
        with self.session() as s:
            a = s.get(Asset, aid)
            p = s.get(Project, a.project_id) if a else None
            role = self._role(s, p, actor) if p is not None else None
        if role is None:
            raise NotFound(f"there is no asset with id {aid}")
        if _RANK[role] < _RANK[need]:
            raise Forbidden(f"asset {aid} is in a project shared with you as {role}: you may not {_MAY_NOT[need]} it")
        return a

    def get_generation(self, generation_id, kind: str | None = None,
                       actor: Actor = ANONYMOUS) -> tuple[Generation, list[Asset], list[Asset]]:
        """A generation (of the given kind, when named) with its input and output assets."""
        gid = _parse_id(generation_id, "generation id")
        with self.session() as s:
            g = s.get(Generation, gid)
            p = s.get(Project, g.project_id) if g else None
            role = self._role(s, p, actor) if p is not None else None
            links = s.exec(select(GenerationAsset).where(GenerationAsset.generation_id == gid)
                           .order_by(GenerationAsset.id)).all() if g else []
        if role is None or (kind and g.kind != kind):
            raise NotFound(f"there is no {kind or 'generation'} with id {gid}")
        with self.session() as s:
            assets = {a.id: a for a in s.exec(select(Asset).where(Asset.id.in_([k.asset_id for k in links]))).all()}
        inputs = [assets[k.asset_id] for k in links if k.role == "input" and k.asset_id in assets]
        outputs = [assets[k.asset_id] for k in links if k.role == "output" and k.asset_id in assets]
        return g, inputs, outputs

    def asset_path(self, asset: Asset) -> Path:
        """The asset's file as a local path to read (with object storage, a cached copy fetched when needed)."""
        return self.store.local_path(asset.sha256, asset.ext)

    def delete_asset(self, asset_id, actor: Actor = ANONYMOUS) -> None:
        a = self.get_asset(asset_id, actor, "editor")
        with self.session() as s:
            s.exec(delete(GenerationAsset).where(GenerationAsset.asset_id == a.id))
            s.exec(delete(Asset).where(Asset.id == a.id))
            s.commit()
        self.drop_unreferenced({(a.sha256, a.ext)})

    def referenced_files(self, shas: list[str] | None = None) -> set[tuple[str, str]]:
        """(sha256, ext) of every stored file a row refers to (assets and voice-profile files)."""
        out: set[tuple[str, str]] = set()
        with self.session() as s:
            for table in (Asset, VoiceProfileFile):
                q = select(table.sha256, table.ext).distinct()
                if shas is not None:
                    q = q.where(table.sha256.in_(shas))
                out |= set(s.exec(q).all())
        return out

    def drop_unreferenced(self, files: set[tuple[str, str]]) -> None:
        """Remove stored files among `files` that no row refers to any more."""
        if not files:
            return
        still = self.referenced_files([f[0] for f in files])
        for sha, ext in files - still:
            self.store.remove(sha, ext)

    # ------------------------------------------------------------ history

    def list_generations(self, project_id, actor: Actor = ANONYMOUS) -> list[dict]:
        p = self.get_project(project_id, actor, "viewer")
        with self.session() as s:
            gens = s.exec(select(Generation).where(Generation.project_id == p.id).order_by(Generation.id.desc())).all()
            links = s.exec(
                select(GenerationAsset).where(GenerationAsset.generation_id.in_([g.id for g in gens]))
            ).all()
        by_gen: dict[int, dict[str, list[int]]] = {}
        for link in links:
            by_gen.setdefault(link.generation_id, {"input": [], "output": []})[link.role].append(link.asset_id)
        return [
            generation_json(g, by_gen.get(g.id, {}).get("input", []), by_gen.get(g.id, {}).get("output", []))
            for g in gens
        ]

    def save_rating(self, generation_id, stars: int, tags: list[str], actor: Actor = ANONYMOUS) -> Rating:
        """The actor's rating of a generation they can see (replacing their earlier one of it)."""
        g, _, _ = self.get_generation(generation_id, actor=actor)
        with self.session() as s:
            s.exec(delete(Rating).where(Rating.generation_id == g.id, owned_by(Rating.owner_id, actor)))
            r = Rating(generation_id=g.id, owner_id=actor.user_id, stars=int(stars), tags=list(tags))
            s.add(r)
            s.commit()
            s.refresh(r)
            return r

    def rating_history(self, kind: str, actor: Actor = ANONYMOUS) -> list[tuple[dict, int, list[str]]]:
        """(parameters, stars, tags) of every generation of `kind` the actor rated, oldest first."""
        with self.session() as s:
            rows = s.exec(select(Generation.params, Rating.stars, Rating.tags)
                          .join(Rating, Rating.generation_id == Generation.id)
                          .where(Generation.kind == kind, owned_by(Rating.owner_id, actor))
                          .order_by(Rating.created_at)).all()
        return [(dict(p or {}), int(stars), list(tags or [])) for p, stars, tags in rows]

    def non_commercial(self, project_id, actor: Actor = ANONYMOUS) -> list[str]:
        """One line per finished generation of the project whose outputs may not be used commercially
        (what exporting or sharing the project warns about)."""
        return [f"{g['kind']} generation {g['id']}: {g['licence_note']} ({g['model_licence']})"
                for g in self.list_generations(project_id, actor) if g["commercial_use"] == "no"]

    def log_event(self, type_: str, actor: Actor = ANONYMOUS, **detail) -> None:
        with self.session() as s:
            s.add(SecurityEvent(type=type_, user_id=actor.user_id, username=actor.username,
                                ip=actor.ip[:64], user_agent=actor.user_agent[:512], detail=detail))
            s.commit()

    def security_events(self, limit: int = 100, type_: str = "", username: str = "",
                        since: datetime | None = None) -> list[SecurityEvent]:
        """The newest events first; `type_` a prefix ("login" finds login_ok, login_failed ...),
        `username` exact."""
        q = select(SecurityEvent)
        if type_:
            q = q.where(SecurityEvent.type.startswith(type_.strip()))
        if username:
            q = q.where(SecurityEvent.username == username.strip())
        if since is not None:
            q = q.where(SecurityEvent.created_at >= since)
        with self.session() as s:
            q = q.order_by(SecurityEvent.created_at.desc(), SecurityEvent.id.desc())
            return list(s.exec(q.limit(max(1, min(int(limit), 5000)))).all())

    def expire_events(self, older_than_days: int) -> int:
        """Delete security events older than this many days (0: none). Returns how many went."""
        if older_than_days <= 0:
            return 0
        cutoff = utcnow() - timedelta(days=older_than_days)
        with self.session() as s:
            n = s.exec(delete(SecurityEvent).where(SecurityEvent.created_at < cutoff)).rowcount or 0
            s.commit()
        if n:
            log.info("%d security event(s) older than %d days deleted", n, older_than_days)
        return n

    def ensure_user(self, username: str, **fields) -> User:
        with self.session() as s:
            u = s.exec(select(User).where(User.username == username)).first()
            if u is None:
                u = User(username=username, **fields)
                s.add(u)
                s.commit()
                s.refresh(u)
        return u

    # ------------------------------------------------------------ start-up

    def recover(self) -> dict:
        """After a crash: unfinished jobs become failed, their error saying the server restarted (what a
        client whose connection was cut finds in /list_generations); scratch and orphan files go."""
        with self.session() as s:
            res = s.exec(
                update(Generation)
                .where(Generation.status.in_([JobStatus.running, JobStatus.queued]))
                .values(status=JobStatus.failed, error=INTERRUPTED, finished_at=utcnow())
            )
            interrupted = res.rowcount or 0
            s.commit()
        referenced = self.referenced_files()
        self.store.clear_scratch()
        removed = self.store.collect_garbage(referenced)
        if interrupted:
            log.warning("%d job(s) were interrupted by a restart and are marked failed", interrupted)
        return {"interrupted": interrupted, "orphan_files_removed": removed}

    # ------------------------------------------------------------ export / import
