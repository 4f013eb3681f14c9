"""Projects as portable zips: media/<sha><ext> files plus manifest.json. Export reads through the
Library (so only what the actor may see leaves); import re-creates the project with new ids, all or
nothing."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import datetime
from pathlib import Path

from core.errors import InputError
from storage.intake import Probed, check_zip
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

def import_project(library: Library, src: Path, original_name: str = "", actor: Actor = ANONYMOUS) -> Project:
    """Re-create an exported project (new ids). All or nothing."""
    name = Path(original_name or Path(src).name).name
    zf = check_zip(Path(src), name, library.limits)
    work = library.store.new_scratch_dir("import-")
    added: set[tuple[str, str]] = set()
    try:
        with zf:
            try:
                manifest = json.loads(zf.read("manifest.json"))
            except KeyError:
                raise InputError(f"'{name}' is not a project export: it has no manifest.json") from None
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise InputError(f"'{name}' has a damaged manifest.json ({e})") from None
            if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
                raise InputError(f"'{name}' is not a project export of this app (format {EXPORT_FORMAT})")
            try:
                return _import_manifest(library, zf, manifest, name, work, added, actor)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise InputError(f"'{name}' has an incomplete or damaged manifest "
                                 f"({type(e).__name__}: {e})") from None
    except Exception:
        library.drop_unreferenced(added)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)

def _import_manifest(library: Library, zf: zipfile.ZipFile, manifest: dict, name: str, work: Path,
                 added: set, actor: Actor) -> Project:
    members = set(zf.namelist())
    with library.session() as s:
        project = Project(name=clean_name(manifest["project"]["name"]), owner_id=actor.user_id)
        s.add(project)
        s.flush()
        id_map: dict[int, int] = {}
        for i, a in enumerate(manifest["assets"]):
            arc = a["file"]
            if arc not in members:
                raise InputError(f"'{name}' is missing {arc}, listed in its manifest")
            kind = MediaKind(a["kind"])
            ext = Path(arc).suffix
            tmp = work / f"{i}{ext}"
            with zf.open(arc) as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            if sha256_file(tmp) != a["sha256"]:
                raise InputError(f"'{name}': {arc} does not match its checksum; the archive is damaged")
            probed = Probed(kind, tmp, ext, a["mime"], a.get("duration_s"), a.get("width"), a.get("height"),
                            a.get("sample_rate"), a.get("channels"), dict(a.get("meta") or {}))
            row = library.add_probed(project.id, probed, a["name"], origin=a.get("origin") or "import",
                                  actor=actor, session=s, added=added)
            id_map[int(a["id"])] = row.id
        for g in manifest.get("generations", []):
            gen = Generation(
                project_id=project.id, owner_id=actor.user_id, kind=str(g["kind"]), params=g.get("params") or {},
                status=JobStatus(g["status"]), progress=float(g.get("progress") or 0),
                progress_message=g.get("progress_message") or "", error=g.get("error") or "",
                backend=g.get("backend") or "", model=g.get("model") or "",
                model_licence=g.get("model_licence") or "", metrics=g.get("metrics") or {},
                created_at=_parse_time(g.get("created_at")) or utcnow(),
                started_at=_parse_time(g.get("started_at")), finished_at=_parse_time(g.get("finished_at")),
            )
            if not gen.status.finished:
                gen.status, gen.error = JobStatus.failed, "interrupted"
            s.add(gen)
            s.flush()
            for role in ("input", "output"):
                for old in g.get(f"{role}s", []):
                    if int(old) in id_map:
                        s.add(GenerationAsset(generation_id=gen.id, asset_id=id_map[int(old)], role=role))
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
