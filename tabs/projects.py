"""Projects tab: create, rename, delete; upload media; browse assets with previews;
generation history; export and import; the capabilities report."""

from __future__ import annotations

import json

import gradio as gr

from services import Services
from storage import archive
from storage.library import asset_json
from storage.models import MediaKind
from tabs.common import (
    actor_from,
    download_copy,
    gradio_progress,
    private_folder,
    stop_button,
    stop_token,
    user_errors,
    warn_non_commercial,
    wire_stop,
)
from workflows.preferences import rating_tags

ASSET_COLUMNS = ["id", "kind", "name", "size", "length / pixels", "origin", "added"]
GEN_COLUMNS = ["id", "kind", "status", "progress", "backend", "seconds", "commercial use", "error", "parameters"]
# How the generations table shows whether outputs may be used commercially.
COMMERCIAL = {"yes": "yes", "check": "check the terms", "no": "NO", None: ""}


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _extent(a) -> str:
    if a.duration_s is not None:
        m, s = divmod(a.duration_s, 60)
        extent = f"{int(m)}:{s:04.1f}"
        return extent + (f" · {a.width}x{a.height}" if a.width else "")
    if a.width:
        return f"{a.width}x{a.height}"
    if a.kind is MediaKind.pptx:
        return f"{a.meta.get('slides', '?')} slides"
    if a.kind is MediaKind.text:
        return f"{a.meta.get('chars', '?')} chars"
    return ""


def build(services: Services) -> None:
    lib = services.library

    def project_choices(request: gr.Request | None) -> list[tuple[str, int]]:
        actor = actor_from(request, services)
        shared = lib.shared_with(actor)
        return [(f"{p.name}  (#{p.id}, {n} files"
                 + (f", shared by {shared[p.id][1]}: {shared[p.id][0]})" if p.id in shared else ")"), p.id)
                for p, n in lib.list_projects(actor)]

    def shares_md(request: gr.Request | None) -> str:
        got = services.sharing.shares(actor_from(request, services))
        lines = [f"- {x['kind']} **{x['name']}** (#{x['id']}) with **{x['user']}** as {x['role']}"
                 for x in got["given"]]
        lines += [f"- {x['kind']} **{x['name']}** (#{x['id']}) from **{x['owner']}** as {x['role']}"
                  for x in got["received"]]
        return "\n".join(lines) or "Nothing shared yet."

    def assets_table(project_id, request) -> list[list]:
        if not project_id:
            return []
        return [
            [a.id, a.kind.value, a.name, _size(a.size_bytes), _extent(a), a.origin,
             a.created_at.strftime("%Y-%m-%d %H:%M")]
            for a in lib.list_assets(project_id, actor_from(request, services))
        ]

    def gens_table(project_id, request) -> list[list]:
        if not project_id:
            return []
        return [
            [g["id"], g["kind"], g["status"], f"{g['progress'] * 100:.0f}%", g["backend"],
             f"{g['seconds']:.1f}" if g["seconds"] is not None else "", COMMERCIAL[g["commercial_use"]], g["error"],
             json.dumps(g["params"], ensure_ascii=False)[:300]]
            for g in lib.list_generations(project_id, actor_from(request, services))
        ]

    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            project = gr.Dropdown(label="Project", choices=[], value=None, interactive=True, elem_id="project-select")
            with gr.Group():
                new_name = gr.Textbox(label="New project", placeholder="Name", max_lines=1, elem_id="new-project-name")
                create_btn = gr.Button("Create project", variant="primary", elem_id="create-project")
            with gr.Accordion("Rename or delete", open=False):
                rename_to = gr.Textbox(label="Rename to", max_lines=1, elem_id="rename-project")
                rename_btn = gr.Button("Rename")
                confirm_delete = gr.Checkbox(label="Yes, delete this project and all its files")
                delete_btn = gr.Button("Delete project", variant="stop")
            with gr.Accordion("Share", open=False, visible=services.sign_in):
                share_user = gr.Textbox(label="User name", max_lines=1, elem_id="share-user")
                share_role = gr.Radio(["viewer", "editor"], value="viewer", label="May",
                                      info="viewer: read and export; editor: also add files and generate into it")
                with gr.Row():
                    share_btn = gr.Button("Share project", elem_id="share-project")
                    unshare_btn = gr.Button("Revoke", elem_id="unshare-project")
                shares = gr.Markdown("", elem_id="shares-list")
            with gr.Accordion("Export / import", open=False):
                export_btn = gr.Button("Export project as zip", elem_id="export-project")
                export_file = gr.File(label="Export", interactive=False, elem_id="project-export")
                import_file = gr.File(label="Project zip to import", file_types=[".zip"], type="filepath")
                import_btn = gr.Button("Import")
            status = gr.Markdown("", elem_id="projects-status", elem_classes="studio-status")
        with gr.Column(scale=3):
            with gr.Group():
                uploads = gr.File(
                    label="Add media: text, photos, audio, video, .pptx",
                    file_count="multiple", type="filepath", elem_id="upload-media",
                )
                upload_btn = gr.Button("Add to project", variant="primary", elem_id="upload-button")
            assets = gr.Dataframe(
                headers=ASSET_COLUMNS, value=[], interactive=False, label="Assets (select a row to preview)",
                elem_id="assets-table", wrap=True,
            )
            with gr.Row():
                prev_image = gr.Image(label="Preview", visible=False, interactive=False, type="filepath")
                prev_audio = gr.Audio(label="Preview", visible=False, interactive=False, type="filepath")
                prev_video = gr.Video(label="Preview", visible=False, interactive=False)
                prev_text = gr.Textbox(label="Preview", visible=False, interactive=False, lines=12, max_lines=24)
                prev_file = gr.File(label="Download", visible=False, interactive=False)
                prev_meta = gr.JSON(label="Details", visible=False)
            gens = gr.Dataframe(headers=GEN_COLUMNS, value=[], interactive=False, label="Generations",
                                elem_id="generations-table", wrap=True)
            with gr.Row(equal_height=True):
                rerun_id = gr.Number(label="Generation to run again (click its row)", precision=0, minimum=1,
                                     elem_id="rerun-id", scale=1)
                rerun_changes = gr.Textbox(label="Changes (JSON)", placeholder='e.g. {"speed": 0.9}', max_lines=3,
                                           elem_id="rerun-changes", scale=3)
                rerun_btn = gr.Button("Run again", elem_id="rerun-button", scale=1)
                rerun_stop = stop_button("rerun-stop")
            with gr.Row(equal_height=True):
                rate_stars = gr.Radio([1, 2, 3, 4, 5], label="Rate it (stars)", elem_id="rate-stars", scale=2)
                rate_tags = gr.CheckboxGroup(list(rating_tags()), label="Tags (optional)", elem_id="rate-tags",
                                             scale=4)
                rate_btn = gr.Button("Rate", elem_id="rate-button", scale=1)
    with gr.Accordion("Engines and backends on this server", open=False):
        caps_btn = gr.Button("Check again", size="sm")
        caps = gr.JSON(label="Capabilities", elem_id="capabilities")

    # ---------------------------------------------------------------- handlers

    def on_generation(project_id, evt: gr.SelectData, request: gr.Request):
        """A row of the generations table picks it for a re-run; the hint says what can change."""
        from workflows.rerun import RERUN_KEYS

        rows = lib.list_generations(project_id, actor_from(request, services)) if project_id else []
        row = rows[evt.index[0]] if evt.index and evt.index[0] < len(rows) else None
        if row is None:
            return gr.update(), gr.update()
        keys = RERUN_KEYS.get(row["kind"], ())
        hint = ("can change: " + ", ".join(keys)) if keys else "this kind cannot be re-run"
        return row["id"], gr.update(placeholder=f'e.g. {{"{keys[0]}": ...}} ({hint})' if keys else hint)

    @user_errors
    def on_rate(generation_id, stars, tags, request: gr.Request):
        from workflows.preferences import rate

        if not generation_id:
            raise gr.Error("Click the generation to rate in the table first.")
        if not stars:
            raise gr.Error("Choose 1 to 5 stars.")
        r = rate(lib, int(generation_id), int(stars), tags or [], actor_from(request, services))
        return (f"Rated generation {r['generation_id']}: {r['stars']} stars"
                + (f" ({', '.join(r['tags'])})" if r["tags"] else "") + ". Suggestions follow your ratings.")

    @user_errors
    def on_rerun(project_id, generation_id, changes, request: gr.Request, progress=gr.Progress()):
        from workflows.rerun import parse_overrides

        if not generation_id:
            raise gr.Error("Click the generation to run again in the table first.")
        actor = actor_from(request, services)
        done = services.rerun(int(generation_id), parse_overrides(changes), actor=actor,
                              progress=gradio_progress(progress), cancel=stop_token(services, request, "rerun"))
        g = done.generation
        return (f"Ran generation {int(generation_id)} again as generation **{g.id}** ({g.kind}, "
                f"{g.seconds:.1f} s); its files are in the project's media.")

    def refresh(project_id, request: gr.Request):
        choices = project_choices(request)
        ids = [c[1] for c in choices]
        if project_id not in ids:
            project_id = ids[0] if ids else None
        return (gr.update(choices=choices, value=project_id), assets_table(project_id, request),
                gens_table(project_id, request))

    @user_errors
    def on_create(name, request: gr.Request):
        p = lib.create_project(name, actor_from(request, services))
        return (gr.update(choices=project_choices(request), value=p.id), "", f"Created project **{p.name}**.")

    @user_errors
    def on_rename(project_id, name, request: gr.Request):
        p = lib.rename_project(project_id, name, actor_from(request, services))
        return gr.update(choices=project_choices(request), value=p.id), "", f"Renamed to **{p.name}**."

    @user_errors
    def on_delete(project_id, confirmed, request: gr.Request):
        if not confirmed:
            raise gr.Error("Tick 'Yes, delete this project and all its files' first.")
        p = lib.get_project(project_id, actor_from(request, services))
        lib.delete_project(p.id, actor_from(request, services))
        return False, f"Deleted project **{p.name}**."

    @user_errors
    def on_upload(project_id, files, request: gr.Request, progress=gr.Progress()):
        if not project_id:
            raise gr.Error("Create or choose a project first.")
        if not files:
            raise gr.Error("Choose one or more files to add.")
        added, refused = [], []
        actor = actor_from(request, services)
        for i, path in enumerate(files):
            name = path.rsplit("/", 1)[-1]
            progress(i / len(files), desc=f"Checking {name}")
            try:
                a = lib.add_upload(project_id, path, name, actor)
                added.append(f"{a.name} ({a.kind.value})")
            except gr.Error:
                raise
            except Exception as e:  # one bad file must not stop the others
                refused.append(f"- {e}")
        lines = []
        if added:
            lines.append(f"Added {len(added)}: " + ", ".join(added))
        if refused:
            lines.append(f"Refused {len(refused)}:\n" + "\n".join(refused))
        return None, "\n\n".join(lines)

    @user_errors
    def on_select(project_id, evt: gr.SelectData, request: gr.Request):
        hidden = [gr.update(visible=False, value=None)] * 5
        row = evt.row_value if evt is not None else None
        if not row:
            return (*hidden, gr.update(visible=False))
        actor = actor_from(request, services)
        a = lib.get_asset(row[0], actor)
        path = lib.asset_path(a)
        copy = download_copy(path, a.name if a.name.endswith(a.ext) else f"{a.name}{a.ext}", actor)
        image = gr.update(visible=a.kind is MediaKind.photo, value=copy if a.kind is MediaKind.photo else None)
        audio = gr.update(visible=a.kind is MediaKind.audio, value=copy if a.kind is MediaKind.audio else None)
        video = gr.update(visible=a.kind is MediaKind.video, value=copy if a.kind is MediaKind.video else None)
        text = gr.update(visible=a.kind is MediaKind.text,
                         value=path.read_text(encoding="utf-8")[:20000] if a.kind is MediaKind.text else None)
        file = gr.update(visible=True, value=copy)
        return image, audio, video, text, file, gr.update(visible=True, value=asset_json(a))

    @user_errors
    def on_export(project_id, request: gr.Request):
        if not project_id:
            raise gr.Error("Choose a project to export.")
        actor = actor_from(request, services)
        out = archive.export_project(lib, project_id, private_folder(actor), actor)
        warning = warn_non_commercial(lib.non_commercial(project_id, actor))
        return str(out), f"Exported to **{out.name}**." + (f"\n\n> ⛔ {warning}" if warning else "")

    @user_errors
    def on_import(path, request: gr.Request):
        if not path:
            raise gr.Error("Choose a project zip to import.")
        p = archive.import_project(lib, path, path.rsplit("/", 1)[-1], actor_from(request, services))
        return gr.update(choices=project_choices(request), value=p.id), None, f"Imported project **{p.name}**."

    @user_errors
    def on_share(project_id, username, role, request: gr.Request):
        if not project_id:
            raise gr.Error("Choose a project to share.")
        actor = actor_from(request, services)
        services.sharing.share_project(project_id, username, role, actor)
        warning = warn_non_commercial(lib.non_commercial(project_id, actor))
        return shares_md(request), (f"Shared with **{username.strip()}** as {role}."
                                    + (f"\n\n> ⛔ {warning}" if warning else ""))

    @user_errors
    def on_unshare(project_id, username, request: gr.Request):
        if not project_id:
            raise gr.Error("Choose a project.")
        done = services.sharing.unshare_project(project_id, username, actor_from(request, services))
        return shares_md(request), (f"Revoked: **{username.strip()}** no longer sees it." if done
                                    else f"**{username.strip()}** did not have it.")

    tables = [project, assets, gens]
    private = {"api_visibility": "private"}
    share_btn.click(on_share, [project, share_user, share_role], [shares, status], **private)
    unshare_btn.click(on_unshare, [project, share_user], [shares, status], **private)
    create_btn.click(on_create, [new_name], [project, new_name, status], **private).then(
        refresh, [project], tables, **private)
    new_name.submit(on_create, [new_name], [project, new_name, status], **private).then(
        refresh, [project], tables, **private)
    rename_btn.click(on_rename, [project, rename_to], [project, rename_to, status], **private)
    delete_btn.click(on_delete, [project, confirm_delete], [confirm_delete, status], **private).then(
        refresh, [project], tables, **private)
    upload_btn.click(on_upload, [project, uploads], [uploads, status], **private).then(
        refresh, [project], tables, **private)
    def on_project(project_id, request: gr.Request):
        return assets_table(project_id, request), gens_table(project_id, request)

    project.change(on_project, [project], [assets, gens], **private)
    gens.select(on_generation, [project], [rerun_id, rerun_changes], **private)
    rerunning = rerun_btn.click(on_rerun, [project, rerun_id, rerun_changes], [status], concurrency_id="cpu",
                                **private)
    rerunning.then(refresh, [project], tables, **private)
    wire_stop(services, rerun_stop, rerunning, "rerun")
    rate_btn.click(on_rate, [rerun_id, rate_stars, rate_tags], [status], **private)
    assets.select(on_select, [project], [prev_image, prev_audio, prev_video, prev_text, prev_file, prev_meta],
                  **private)
    export_btn.click(on_export, [project], [export_file, status], **private)
    import_btn.click(on_import, [import_file], [project, import_file, status], **private).then(
        refresh, [project], tables, **private)
    caps_btn.click(services.capabilities, None, [caps], **private)

    demo = gr.context.Context.root_block
    demo.load(refresh, [project], tables, **private)
    if services.sign_in:
        demo.load(user_errors(shares_md), None, [shares], **private)
    demo.load(services.capabilities, None, [caps], **private)
