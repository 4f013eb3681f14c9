"""Admin tab (shown to admins only; every handler checks again): accounts with what they store,
disabling and enabling them, and the security log with filters."""

from __future__ import annotations

import json

import gradio as gr

from core.errors import InputError
from services import Services
from tabs.common import actor_from, user_errors
from tabs.hf_oauth import NO_NEW_ACCOUNTS

USER_COLUMNS = ["user", "admin", "disabled", "projects", "voices", "stored"]
EVENT_COLUMNS = ["time (UTC)", "event", "user", "IP", "user agent", "detail"]
EVENT_TYPES = ["", "login", "login_failed", "login_throttled", "login_ok", "voice_consent", "likeness_attestation",
               "share", "upload_rejected", "user_", "admin_", "data_adopted"]


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def user_rows(services: Services) -> list[list]:
    return [[u["username"], "yes" if u["is_admin"] else "", "yes" if u["disabled"] else "", u["projects"],
             u["voices"], _mb(u["stored_bytes"])] for u in services.accounts.usage()]


def event_rows(services: Services, type_: str, username: str, limit: int) -> list[list]:
    return [[e.created_at.strftime("%Y-%m-%d %H:%M:%S"), e.type, e.username, e.ip, e.user_agent,
             json.dumps(e.detail, ensure_ascii=False)[:300]]
            for e in services.library.security_events(int(limit or 200), type_ or "", username or "")]


def is_admin(services: Services, request: gr.Request | None) -> bool:
    try:
        services.accounts.require_admin(actor_from(request, services))
    except Exception:
        return False
    return True


def build(services: Services) -> None:
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            gr.Markdown("### Accounts")
            users = gr.Dataframe(headers=USER_COLUMNS, value=[], interactive=False, elem_id="admin-users")
            with gr.Row():
                who = gr.Textbox(label="User name", max_lines=1, elem_id="admin-user", scale=3)
                disable_btn = gr.Button("Disable (ends their sessions)", variant="stop", elem_id="admin-disable")
                enable_btn = gr.Button("Enable", elem_id="admin-enable")
            with gr.Accordion("New account", open=False, visible=services.sign_in_mode != "huggingface"):
                with gr.Row():
                    new_user = gr.Textbox(label="User name", max_lines=1, elem_id="admin-new-user")
                    new_password = gr.Textbox(label="Password (8 or more characters)", type="password",
                                              max_lines=1, elem_id="admin-new-password")
                new_admin = gr.Checkbox(label="Admin (may manage accounts and read the security log)")
                create_btn = gr.Button("Create account", elem_id="admin-create")
            admin_status = gr.Markdown(elem_id="admin-status", elem_classes="studio-status")
        with gr.Column(scale=3):
            gr.Markdown("### Security log")
            with gr.Row():
                kind = gr.Dropdown(EVENT_TYPES, value="", label="Event (prefix)", allow_custom_value=True,
                                   elem_id="events-type")
                by = gr.Textbox(label="User", max_lines=1, elem_id="events-user")
                limit = gr.Number(value=200, precision=0, minimum=1, maximum=5000, label="Newest")
                show_btn = gr.Button("Show", elem_id="events-show")
            events = gr.Dataframe(headers=EVENT_COLUMNS, value=[], interactive=False, wrap=True,
                                  elem_id="security-events")

    @user_errors
    def on_show(type_, username, n, request: gr.Request):
        services.accounts.require_admin(actor_from(request, services))
        return event_rows(services, type_, username, n)

    @user_errors
    def on_users(request: gr.Request):
        services.accounts.require_admin(actor_from(request, services))
        return user_rows(services)

    def set_disabled(disabled: bool):
        @user_errors
        def handler(username, request: gr.Request):
            actor = actor_from(request, services)
            admin = services.accounts.require_admin(actor)
            if disabled and (username or "").strip() == admin.username:
                raise gr.Error("You cannot disable your own account.")
            u = services.accounts.set_disabled(username, disabled, actor)
            return user_rows(services), f"**{u.username}** is {'disabled' if u.disabled else 'enabled'}."

        return handler

    @user_errors
    def on_create(username, password, admin_, request: gr.Request):
        actor = actor_from(request, services)
        services.accounts.require_admin(actor)
        if services.sign_in_mode == "huggingface":
            raise InputError(NO_NEW_ACCOUNTS)
        u = services.accounts.create_user(username, password or "", is_admin=bool(admin_), actor=actor)
        return user_rows(services), "", f"Created **{u.username}**" + (" (admin)." if u.is_admin else ".")

    private = {"api_visibility": "private"}
    create_btn.click(on_create, [new_user, new_password, new_admin], [users, new_password, admin_status], **private)
    show_btn.click(on_show, [kind, by, limit], [events], **private)
    kind.change(on_show, [kind, by, limit], [events], **private)
    disable_btn.click(set_disabled(True), [who], [users, admin_status], **private)
    enable_btn.click(set_disabled(False), [who], [users, admin_status], **private)
    def on_load(request: gr.Request):
        if not is_admin(services, request):
            return [], []
        return user_rows(services), event_rows(services, "", "", 200)

    gr.context.Context.root_block.load(on_load, None, [users, events], **private)
