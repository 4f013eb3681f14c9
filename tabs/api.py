"""The public client API for projects and media (names and parameters are a stable contract).

    /create_project(name) -> project JSON with an "id"
    /upload_media(project_id, file) -> asset JSON
    /list_assets(project_id) -> list of asset JSON
    /list_generations(project_id) -> list of generation JSON
    /export_project(project_id) -> zip file
    /import_project(file) -> project JSON
    /capabilities() -> engines/backends and their availability
"""

from __future__ import annotations

import tempfile

import gradio as gr
from gradio import FileData
from gradio.utils import get_upload_folder

from services import Services
from storage.library import asset_json, project_json
from tabs.common import actor_from, uploaded_file, user_errors


def register(services: Services) -> None:
    lib = services.library

    @user_errors
    def create_project(name: str, request: gr.Request = None) -> dict:
        """Create a project. Returns it as JSON with its id."""
        return project_json(lib.create_project(name, actor_from(request)), 0)

    @user_errors
    def list_projects(request: gr.Request = None) -> list[dict]:
        """All projects, most recently changed first."""
        return [project_json(p, n) for p, n in lib.list_projects(actor_from(request))]

    @user_errors
    def upload_media(project_id: int, file: FileData, request: gr.Request = None) -> dict:
        """Add a file (text, photo, audio, video or .pptx) to a project. Returns the stored asset."""
        path, name = uploaded_file(file)
        return asset_json(lib.add_upload(project_id, path, name, actor_from(request)))

    @user_errors
    def list_assets(project_id: int, request: gr.Request = None) -> list[dict]:
        """The project's assets with their metadata."""
        return [asset_json(a) for a in lib.list_assets(project_id, actor_from(request))]

    @user_errors
    def list_generations(project_id: int, request: gr.Request = None) -> list[dict]:
        """The project's generations (newest first) with status, progress, parameters and timings."""
        return lib.list_generations(project_id, actor_from(request))

    @user_errors
    def export_project(project_id: int, request: gr.Request = None) -> FileData:
        """The project as a zip: its media and a JSON manifest."""
        out = lib.export_project(project_id, tempfile.mkdtemp(prefix="export-", dir=get_upload_folder()),
                                 actor_from(request))
        return FileData(path=str(out), orig_name=out.name)

    @user_errors
    def import_project(file: FileData, request: gr.Request = None) -> dict:
        """Re-create a project from an exported zip. Returns the new project."""
        path, name = uploaded_file(file, "project zip")
        actor = actor_from(request)
        p = lib.import_project(path, name, actor)
        return project_json(p, len(lib.list_assets(p.id, actor)))

    @user_errors
    def capabilities() -> dict:
        """Which engines and backends can run here, and why not (missing weights, key, GPU)."""
        return services.capabilities()

    for fn in (create_project, list_projects, upload_media, list_assets, list_generations,
               export_project, import_project, capabilities):
        gr.api(fn, api_name=fn.__name__, concurrency_limit=None if fn is capabilities else 4)
