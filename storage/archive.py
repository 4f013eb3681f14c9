"""Projects as portable zips: media/<sha><ext> files plus manifest.json. Export reads through the
Library (so only what the actor may see leaves); import re-creates the project with new ids, all or
nothing, every file through the same intake as an upload (the manifest is only names and metadata)."""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePosixPath

from core.errors import InputError
from storage.intake import Probed, check_zip, probe_member
from storage.library import ANONYMOUS, Actor, Library, asset_json, clean_name
from storage.media import sha256_file
from storage.models import Generation, GenerationAsset, JobStatus, MediaKind, Project, utcnow

EXPORT_FORMAT = "digital-clone-studio/project/1"


def export_project(library: Library, project_id, dest_dir: Path, actor: Actor = ANONYMOUS) -> Path:
    """Write the project as a zip: media/<sha><ext> files plus manifest.json."""
    p = library.get_project(project_id, actor, "viewer")
    assets = library.list_assets(p.id, actor)
    manifest = {
        "format": EXPORT_FORMAT,
        "exported_at": utcnow().isoformat(timespec="seconds"),
        "project": {"name": p.name, "created_at": p.created_at.isoformat(timespec="seconds")},
        "assets": [{**asset_json(a), "file": f"media/{a.sha256}{a.ext}"} for a in assets],
        "generations": library.list_generations(p.id, actor),
    }
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in p.name)[:60].strip("_") or "project"
    out = Path(dest_dir) / f"{safe}-{p.id}.zip"
    tmp = out.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        written = set()
        for a in assets:
            arc = f"media/{a.sha256}{a.ext}"
            if arc not in written:
                # Already-compressed media is stored, not deflated again.
                kind = zipfile.ZIP_DEFLATED if a.kind in (MediaKind.text, MediaKind.other) else zipfile.ZIP_STORED
                zf.write(library.asset_path(a), arc, compress_type=kind)
                written.add(arc)
    tmp.replace(out)
    return out

# Largest manifest.json read (it holds names and metadata only).
MAX_MANIFEST_BYTES = 20 << 20
# Where an asset may say it came from; anything else becomes "import".
ORIGINS = {"upload", "generated", "import"}
# What an unfinished generation in an export becomes.
UNFINISHED = "interrupted: it was still running when the project was exported"


@dataclass
class _Member:
    """One asset of the manifest, its file checked and converted by intake (in scratch)."""

    old_id: int
    name: str
    origin: str
    meta: dict
    probed: Probed


def import_project(library: Library, src: Path, original_name: str = "", actor: Actor = ANONYMOUS) -> Project:
    """Re-create an exported project (new ids). All or nothing.

    Every media file goes through the same intake as an upload (content probe, limits, conversion); the
    manifest supplies names and metadata only, and the kind it declares is checked like an extension.
    Everything is checked before anything is stored; then the project, its assets and its history are
    stored in one transaction."""
    name = Path(original_name or Path(src).name).name
    zf = check_zip(Path(src), name, library.limits)
    work = library.store.new_scratch_dir("import-")
    added: set[tuple[str, str]] = set()
    try:
        with zf:
            manifest = _read_manifest(zf, name)
            try:
                members = _check_members(library, zf, manifest, name, work)
                project_name = clean_name(manifest["project"]["name"])
                generations = [_generation(g) for g in manifest.get("generations") or []]
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise InputError(f"'{name}' has an incomplete or damaged manifest "
                                 f"({type(e).__name__}: {e})") from None
        return _store(library, project_name, members, generations, added, actor)
    except Exception:
        library.drop_unreferenced(added)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _read_manifest(zf: zipfile.ZipFile, name: str) -> dict:
    try:
        info = zf.getinfo("manifest.json")
    except KeyError:
        raise InputError(f"'{name}' is not a project export: it has no manifest.json") from None
    if info.file_size > MAX_MANIFEST_BYTES:
        raise InputError(f"'{name}' has a manifest.json of {info.file_size / (1 << 20):.1f} MB; at most "
                         f"{MAX_MANIFEST_BYTES >> 20} MB")
    try:
        manifest = json.loads(zf.read(info))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"'{name}' has a damaged manifest.json ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise InputError(f"'{name}' is not a project export of this app (format {EXPORT_FORMAT})")
    return manifest


def _check_members(library: Library, zf: zipfile.ZipFile, manifest: dict, name: str, work: Path) -> list[_Member]:
    """Every asset's file through intake, before anything is stored. InputError names the member."""
    members = set(zf.namelist())
    out: list[_Member] = []
    seen: dict[tuple[str, MediaKind], Probed] = {}
    for i, a in enumerate(manifest["assets"]):
        arc = a["file"]
        if not isinstance(arc, str) or arc not in members or arc == "manifest.json":
            raise InputError(f"'{name}' is missing {arc}, listed in its manifest")
        try:
            declared = MediaKind(a["kind"])
        except ValueError:
            raise InputError(f"'{name}': {arc} is declared of kind {a['kind']!r}; kinds are "
                             f"{', '.join(k.value for k in MediaKind)}") from None
        meta = a.get("meta") or {}
        if not isinstance(meta, dict):
            raise TypeError(f"the meta of {arc} is not an object")
        asset_name = Path(str(a.get("name") or "")).name or PurePosixPath(arc).name
        probed = seen.get((arc, declared))
        if probed is None:  # a file several assets share is checked once
            sub = work / str(i)
            sub.mkdir()
            raw = sub / ("member" + PurePosixPath(arc).suffix.lower())
            with zf.open(arc) as fin, open(raw, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            if a.get("sha256") and sha256_file(raw) != a["sha256"]:
                raise InputError(f"'{name}': {arc} does not match its checksum; the archive is damaged")
            try:
                probed = probe_member(raw, arc, declared, library.limits, sub)
            except InputError as e:
                raise InputError(f"'{name}' was not imported: {arc} ('{asset_name}' in its manifest) was "
                                 f"refused: {str(e).rstrip('.')}. Nothing was imported.") from None
            raw.unlink(missing_ok=True)
            seen[(arc, declared)] = probed
        measured = {k: v for k, v in probed.meta.items() if k not in meta or k not in _DESCRIBES_ORIGINAL}
        origin = a.get("origin") if a.get("origin") in ORIGINS else "import"
        out.append(_Member(int(a["id"]), asset_name, origin, {**meta, **measured}, probed))
    return out


# Intake's notes on where a file came from: an export's own (about the first upload) are kept.
_DESCRIBES_ORIGINAL = {"original_format", "original_codec"}


def _generation(g: dict) -> dict:
    """A history row of the manifest, its fields checked (metadata: nothing in it is run)."""
    if not isinstance(g, dict):
        raise TypeError("a generation is not an object")
    for key in ("params", "metrics"):
        if not isinstance(g.get(key) or {}, dict):
            raise TypeError(f"a generation's {key} is not an object")
    status = JobStatus(g["status"])
    error = str(g.get("error") or "")
    if not status.finished:
        status, error = JobStatus.failed, UNFINISHED
    return {
        "kind": str(g["kind"])[:60], "params": g.get("params") or {}, "status": status,
        "progress": float(g.get("progress") or 0), "progress_message": str(g.get("progress_message") or ""),
        "error": error, "backend": str(g.get("backend") or ""), "model": str(g.get("model") or ""),
        "model_licence": str(g.get("model_licence") or ""), "metrics": g.get("metrics") or {},
        "created_at": _parse_time(g.get("created_at")) or utcnow(), "started_at": _parse_time(g.get("started_at")),
        "finished_at": _parse_time(g.get("finished_at")),
        "links": [(role, int(old)) for role in ("input", "output") for old in g.get(f"{role}s") or []],
    }


def _store(library: Library, project_name: str, members: list[_Member], generations: list[dict], added: set,
           actor: Actor) -> Project:
    """The project, its assets and its history in one transaction."""
    uses: dict[Path, int] = {}
    for m in members:
        uses[m.probed.path] = uses.get(m.probed.path, 0) + 1
    with library.session() as s:
        project = Project(name=project_name, owner_id=actor.user_id)
        s.add(project)
        s.flush()
        id_map: dict[int, int] = {}
        for i, m in enumerate(members):
            probed = m.probed
            if uses[probed.path] > 1:  # the store consumes the file it is given
                copy = probed.path.with_name(f"copy{i}{probed.ext}")
                shutil.copyfile(probed.path, copy)
                probed = replace(probed, path=copy)
            uses[m.probed.path] -= 1
            probed = replace(probed, meta=m.meta)
            row = library.add_probed(project.id, probed, m.name, origin=m.origin, actor=actor, session=s,
                                     added=added)
            id_map[m.old_id] = row.id
        for g in generations:
            links = g.pop("links")
            gen = Generation(project_id=project.id, owner_id=actor.user_id, **g)
            s.add(gen)
            s.flush()
            for role, old in links:
                if old in id_map:
                    s.add(GenerationAsset(generation_id=gen.id, asset_id=id_map[old], role=role))
        s.commit()
        s.refresh(project)
    return project


def _parse_time(v) -> datetime | None:
    if not v:
        return None
    try:
        return datetime.fromisoformat(v)
    except (TypeError, ValueError):
        return None
