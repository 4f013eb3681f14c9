"""Sharing: an owner opens a project (to view, or to edit) or a voice profile (to speak with) to
another user, and revokes it. Every grant and revocation is a security event.

    sharing = Sharing(library, VoiceProfiles(library))
    sharing.share_project(project_id, "bob", "viewer", actor=alice)
    sharing.unshare_project(project_id, "bob", actor=alice)
    sharing.share_voice("profile:3", "bob", actor=alice)      # bob may speak with it, never read its references

Who may do what with a shared thing is checked where it is used (Library.get_project's `need`,
VoiceProfiles.get's `need`).
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import select

from core.errors import InputError
from storage.accounts import LOCAL_USERNAME
from storage.library import Actor, Library
from storage.models import Project, Share, User, VoiceProfile, utcnow
from storage.voices import VoiceProfiles

PROJECT_ROLES = ("viewer", "editor")


def share_json(share: Share, name: str, owner: str, user: str) -> dict:
    return {"kind": share.kind, "id": share.object_id, "name": name, "role": share.role, "owner": owner,
            "user": user, "created_at": share.created_at.isoformat(timespec="seconds")}


class Sharing:
    def __init__(self, library: Library, profiles: VoiceProfiles) -> None:
        self.lib = library
        self.profiles = profiles

    def _user(self, username: str, actor: Actor) -> User:
        name = (username or "").strip()
        with self.lib.session() as s:
            u = s.exec(select(User).where(User.username == name)).first()
        if u is None or u.disabled or u.username == LOCAL_USERNAME:
            raise InputError(f"there is no user called {name!r}")
        if u.id == actor.user_id:
            raise InputError("that is you: share with another user")
        return u

    def _grant(self, kind: str, object_id: int, name: str, user: User, role: str, actor: Actor) -> Share:
        with self.lib.session() as s:
            share = s.exec(select(Share).where(Share.kind == kind, Share.object_id == object_id,
                                               Share.user_id == user.id)).first()
            if share is None:
                share = Share(kind=kind, object_id=object_id, owner_id=actor.user_id, user_id=user.id, role=role)
            share.role, share.created_at = role, utcnow()
            s.add(share)
            s.commit()
            s.refresh(share)
        self.lib.log_event("share_granted", actor, kind=kind, object_id=object_id, name=name, to=user.username,
                           role=role)
        return share

    def _revoke(self, kind: str, object_id: int, name: str, user: User, actor: Actor) -> bool:
        with self.lib.session() as s:
            n = s.exec(delete(Share).where(Share.kind == kind, Share.object_id == object_id,
                                           Share.user_id == user.id)).rowcount
            s.commit()
        if n:
            self.lib.log_event("share_revoked", actor, kind=kind, object_id=object_id, name=name, to=user.username)
        return bool(n)

    def _require_signed_in(self, actor: Actor) -> None:
        if actor.user_id is None:
            raise InputError("sharing needs accounts: sign-in is off")

    # ------------------------------------------------------------ projects

    def share_project(self, project_id, username: str, role: str, actor: Actor) -> Share:
        """Open the actor's project to `username` as "viewer" (read, export) or "editor" (also add
        files and generate into it). Sharing again changes the role."""
        self._require_signed_in(actor)
        p = self.lib.get_project(project_id, actor, "owner")
        role = (role or "").strip().lower()
        if role not in PROJECT_ROLES:
            raise InputError(f"the role must be one of {', '.join(PROJECT_ROLES)}, got {role!r}")
        return self._grant("project", p.id, p.name, self._user(username, actor), role, actor)

    def unshare_project(self, project_id, username: str, actor: Actor) -> bool:
        """Revoke; True if the user had it."""
        self._require_signed_in(actor)
        p = self.lib.get_project(project_id, actor, "owner")
        return self._revoke("project", p.id, p.name, self._user(username, actor), actor)

    # ------------------------------------------------------------ voices

    def share_voice(self, ref, username: str, actor: Actor) -> Share:
        """Let `username` speak with the actor's voice profile (its references stay the owner's)."""
        self._require_signed_in(actor)
        p = self.profiles.get(ref, actor)
        return self._grant("voice", p.id, p.name, self._user(username, actor), "speak", actor)

    def unshare_voice(self, ref, username: str, actor: Actor) -> bool:
        self._require_signed_in(actor)
        p = self.profiles.get(ref, actor)
        return self._revoke("voice", p.id, p.name, self._user(username, actor), actor)

    # ------------------------------------------------------------ listing

    def shares(self, actor: Actor) -> dict[str, list[dict]]:
        """{"given": what the actor shares, "received": what others share with them}."""
        if actor.user_id is None:
            return {"given": [], "received": []}
        out: dict[str, list[dict]] = {"given": [], "received": []}
        with self.lib.session() as s:
            users = {u.id: u.username for u in s.exec(select(User)).all()}
            rows = s.exec(select(Share).where((Share.owner_id == actor.user_id) | (Share.user_id == actor.user_id))
                          .order_by(Share.id)).all()
            names = {}
            for kind, table in (("project", Project), ("voice", VoiceProfile)):
                ids = [r.object_id for r in rows if r.kind == kind]
                names.update({(kind, o.id): o.name for o in s.exec(select(table).where(table.id.in_(ids))).all()})
        for r in rows:
            side = "given" if r.owner_id == actor.user_id else "received"
            out[side].append(share_json(r, names.get((r.kind, r.object_id), ""), users.get(r.owner_id, ""),
                                        users.get(r.user_id, "")))
        return out
