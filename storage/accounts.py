"""Local accounts: users with salted scrypt password hashes, sign-in with a slow-down after
failures, accounts of people who sign in with Hugging Face, and the single local user that owns
everything when sign-in is off.

    accounts = Accounts(library)
    accounts.seed([("alice", "pw1")])          # AUTH pairs; the first becomes admin when there is none
    result = accounts.sign_in("alice", "pw1", ip="10.0.0.5", user_agent="Firefox")
    result = accounts.hf_sign_in(HFProfile(sub="6523...", username="ada"), admin_names={"ada"}, ip=...)
    actor = accounts.actor("alice", ip=..., user_agent=...)   # for every later request

Every sign-in, failed or not, is a SecurityEvent with the user, IP and user agent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from core.errors import InputError
from storage.library import Actor, Forbidden, Library
from storage.models import Asset, Generation, Project, User, VoiceProfile, utcnow

log = logging.getLogger(__name__)

# The account that owns everything in a local single-user run (sign-in off). It has no
# password, so nobody can sign in as it, and the name is refused for real accounts.
LOCAL_USERNAME = "local"
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")
MIN_PASSWORD = 8

# An account of a Hugging Face user whose name is another account's is called name@hf ('@' is never
# in a Hugging Face name, so no later Hugging Face user can claim it), then name@hf2 ...
HF_NAME_SUFFIX = "@hf"

# scrypt cost: 2**14 x 8 x 1 takes ~16 MiB and ~50 ms a check (the RFC 7914 interactive setting).
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32


class NotSignedIn(InputError):
    """A request without a valid session while sign-in is on (or from a disabled account)."""


def hash_password(password: str) -> str:
    """A salted scrypt hash, its parameters stored with it: "scrypt$n$r$p$salt$hash" (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=SCRYPT_LEN, maxmem=64 * 1024 * 1024)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored hash (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(want), maxmem=64 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


# Checked against when the user does not exist, so an unknown name costs the same time as a known one: a hash of
# the stored form whose salt and digest are random (verifying against it is the same scrypt work; making it is
# none, so importing this module hashes nothing).
_DUMMY_HASH = "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                        base64.b64encode(secrets.token_bytes(16)).decode("ascii"),
                        base64.b64encode(secrets.token_bytes(SCRYPT_LEN)).decode("ascii")])


def check_username(name: str) -> str:
    name = (name or "").strip()
    if not USERNAME_RE.match(name):
        raise InputError("a user name is 1 to 80 letters, digits or . _ @ -, starting with a letter or digit")
    if name.lower() == LOCAL_USERNAME:
        raise InputError(f"the name {LOCAL_USERNAME!r} is reserved for the single-user mode (sign-in off)")
    return name


def check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise InputError(f"the password is too short: at least {MIN_PASSWORD} characters")
    return password


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    locked_until: float = 0.0


@dataclass
class LoginThrottle:
    """Failed sign-ins per user name and per IP address. After `free_failures` failures in a row
    (per IP: `free_failures_per_ip`), further attempts wait 1, 2, 4 ... seconds (at most
    `max_wait_s`) and are refused until then, right password or not. Kept in memory: a restart
    forgives, and failures older than `forget_after_s` are forgotten."""

    # Failures in a row allowed per user name before sign-in attempts must wait.
    free_failures: int = 5
    # The same per IP address (higher: one address may serve several people).
    free_failures_per_ip: int = 20
    # Longest wait, in seconds.
    max_wait_s: float = 300.0
    # A run of failures is forgotten after this many quiet seconds.
    forget_after_s: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _state: dict[tuple[str, str], _Failures] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _keys(self, username: str, ip: str) -> list[tuple[tuple[str, str], int]]:
        keys = [(("user", username.lower()), self.free_failures)]
        if ip:
            keys.append((("ip", ip), self.free_failures_per_ip))
        return keys

    def wait_s(self, username: str, ip: str) -> float:
        """Seconds before this user name from this address may try again (0: now)."""
        now = self.clock()
        with self._lock:
            waits = [f.locked_until - now for k, _ in self._keys(username, ip) if (f := self._state.get(k))]
        return max([0.0, *waits])

    def failed(self, username: str, ip: str) -> float:
        """Note a failure; returns the wait it causes (0 while still within the free failures)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            if len(self._state) > 50_000:
                self._forget_old(now)
            for key, free in self._keys(username, ip):
                f = self._state.get(key)
                if f is None or now - f.last > self.forget_after_s:
                    f = self._state[key] = _Failures()
                f.count += 1
                f.last = now
                if f.count >= free:
                    f.locked_until = now + min(2.0 ** (f.count - free), self.max_wait_s)
                    wait = max(wait, f.locked_until - now)
        return wait

    def succeeded(self, username: str) -> None:
        """A right password clears the user name's run (not the address's: one good account must not
        reset the count of an address that tries many)."""
        with self._lock:
            self._state.pop(("user", username.lower()), None)

    def _forget_old(self, now: float) -> None:
        for key in [k for k, f in self._state.items() if now - f.last > self.forget_after_s]:
            del self._state[key]


@dataclass(frozen=True)
class HFProfile:
    """Who signed in with Hugging Face, from the OpenID claims of the sign-in."""

    # The OpenID subject: the person's permanent id (a rename keeps it).
    sub: str
    # Their Hugging Face user name (preferred_username) and full name.
    username: str
    name: str = ""


@dataclass(frozen=True)
class SignInResult:
    ok: bool
    user: User | None = None
    # > 0: refused without checking the password; try again after this many seconds.
    wait_s: float = 0.0


class Accounts:
    def __init__(self, library: Library, throttle: LoginThrottle | None = None) -> None:
        self.lib = library
        self.throttle = throttle or LoginThrottle()

    # ------------------------------------------------------------ users

    def get(self, username: str) -> User | None:
        with self.lib.session() as s:
            return s.exec(select(User).where(User.username == (username or "").strip())).first()

    def list_users(self) -> list[User]:
        with self.lib.session() as s:
            return list(s.exec(select(User).order_by(User.id)).all())

    def create_user(self, username: str, password: str, *, is_admin: bool = False, display_name: str = "",
                    actor: Actor | None = None, strict_password: bool = True) -> User:
        """A new account. InputError when the name is taken or invalid, or the password too short
        (`strict_password=False` accepts any non-empty one: AUTH pairs are the operator's choice)."""
        name = check_username(username)
        if strict_password:
            check_password(password)
        elif not password:
            raise InputError("the password is empty")
        with self.lib.session() as s:
            if s.exec(select(User).where(func.lower(User.username) == name.lower())).first():
                raise InputError(f"there is already a user called {name!r}")
            u = User(username=name, display_name=display_name or name, password_hash=hash_password(password),
                     is_admin=is_admin)
            s.add(u)
            s.commit()
            s.refresh(u)
        if actor is not None:
            self.lib.log_event("user_created", actor, target=name, is_admin=is_admin)
        return u

    def set_password(self, username: str, password: str, actor: Actor | None = None) -> User:
        check_password(password)
        return self._update(username, actor, "password_changed", password_hash=hash_password(password))

    def set_disabled(self, username: str, disabled: bool = True, actor: Actor | None = None) -> User:
        """Disable (or enable again) an account: it cannot sign in, and its open sessions are refused
        (for good: enabled again, it must sign in again)."""
        if disabled:
            return self._update(username, actor, "user_disabled", disabled=True, sessions_ended_at=utcnow())
        return self._update(username, actor, "user_enabled", disabled=False)

    def _update(self, username: str, actor: Actor | None, event: str, **values) -> User:
        with self.lib.session() as s:
            u = s.exec(select(User).where(User.username == (username or "").strip())).first()
            if u is None or u.username == LOCAL_USERNAME:
                raise InputError(f"there is no user called {username!r}")
            for k, v in values.items():
                setattr(u, k, v)
            s.add(u)
            s.commit()
            s.refresh(u)
        if actor is not None:
            self.lib.log_event(event, actor, target=u.username)
        return u

    def disabled_usernames(self) -> set[str]:
        with self.lib.session() as s:
            return set(s.exec(select(User.username).where(User.disabled == True)).all())  # noqa: E712

    def first_admin(self, sign_in: str = "accounts") -> User | None:
        """The longest-standing admin who can sign in: with a password (sign_in "accounts") or with
        Hugging Face ("huggingface")."""
        can = User.hf_sub.is_not(None) if sign_in == "huggingface" else User.password_hash != ""
        with self.lib.session() as s:
            return s.exec(select(User).where(User.is_admin, can, User.disabled == False)  # noqa: E712
                          .order_by(User.id)).first()

    def has_sign_in_users(self) -> bool:
        with self.lib.session() as s:
            return s.exec(select(User.id).where(User.password_hash != "").limit(1)).first() is not None

    def seed(self, pairs: list[tuple[str, str]]) -> list[User]:
        """AUTH pairs from the settings become accounts (an existing one gets the listed password).
        When no admin can sign in yet, the first pair's user becomes admin."""
        users = []
        need_admin = self.first_admin() is None
        for i, (name, password) in enumerate(pairs):
            u = self.get(name)
            if u is None:
                if len(password) < MIN_PASSWORD:
                    log.warning("AUTH password for %r is shorter than %d characters", name, MIN_PASSWORD)
                u = self.create_user(name, password, is_admin=need_admin and i == 0, strict_password=False)
            else:
                fields = {}
                if not verify_password(password, u.password_hash):
                    fields["password_hash"] = hash_password(password)
                if need_admin and i == 0:
                    fields["is_admin"] = True
                if fields:
                    u = self._update(name, None, "", **fields)
            users.append(u)
        return users

    def local_user(self) -> User:
        """The owner of everything when sign-in is off (made on first use; it has no password)."""
        with self.lib.session() as s:
            u = s.exec(select(User).where(User.username == LOCAL_USERNAME)).first()
            if u is None:
                u = User(username=LOCAL_USERNAME, display_name="Local user", is_admin=True)
                s.add(u)
                s.commit()
                s.refresh(u)
        return u

    def adopt_unowned(self, owner: User) -> dict[str, int]:
        """Rows of an earlier single-user install (no owner), and those of the local user when sign-in
        has been turned on since, become `owner`'s. Returns how many rows of each table moved."""
        local = self.get(LOCAL_USERNAME)
        from_ids = [local.id] if local is not None and local.id != owner.id else []
        moved = {}
        with self.lib.session() as s:
            for table in (Project, Asset, Generation, VoiceProfile):
                cond = table.owner_id.is_(None)
                if from_ids:
                    cond = cond | table.owner_id.in_(from_ids)
                res = s.exec(update(table).where(cond).values(owner_id=owner.id))
                moved[table.__tablename__] = res.rowcount or 0
            s.commit()
        if any(moved.values()):
            log.warning("%s now own(s) the earlier single-user data: %s", owner.username, moved)
            self.lib.log_event("data_adopted", Actor(user_id=owner.id, username=owner.username), **moved)
        return moved

    def require_admin(self, actor: Actor) -> User:
        """The acting admin; Forbidden for anyone else."""
        u = self.get(actor.username) if actor.user_id is not None else None
        if u is None or u.id != actor.user_id or not u.is_admin or u.disabled:
            raise Forbidden("only an admin may do that")
        return u

    def usage(self) -> list[dict]:
        """Every account with its flags and what it keeps: projects, voice profiles, stored bytes."""
        with self.lib.session() as s:
            projects = dict(s.exec(select(Project.owner_id, func.count(Project.id)).group_by(Project.owner_id)).all())
            voices = dict(s.exec(select(VoiceProfile.owner_id, func.count(VoiceProfile.id))
                                 .group_by(VoiceProfile.owner_id)).all())
            users = list(s.exec(select(User).order_by(User.id)).all())
            stored = {u.id: self.lib.stored_bytes(u.id, s) for u in users}
        return [{"username": u.username, "is_admin": u.is_admin, "disabled": u.disabled,
                 "can_sign_in": bool(u.password_hash or u.hf_sub), "hf_username": u.hf_username,
                 "created_at": u.created_at.isoformat(timespec="seconds"),
                 "projects": projects.get(u.id, 0), "voices": voices.get(u.id, 0), "stored_bytes": stored[u.id]}
                for u in users]

    # ------------------------------------------------------------ sign-in

    def sign_in(self, username: str, password: str, ip: str = "", user_agent: str = "") -> SignInResult:
        """Check a user name and password, with the slow-down after failures. Logged either way."""
        username = (username or "").strip()[:80]
        who = Actor(username=username, ip=ip, user_agent=user_agent)
        wait = self.throttle.wait_s(username, ip)
        if wait > 0:
            self.lib.log_event("login_throttled", who, wait_s=round(wait, 1))
            return SignInResult(False, wait_s=wait)
        u = self.get(username)
        ok = verify_password(password or "", u.password_hash if u and u.password_hash else _DUMMY_HASH)
        if u is not None and ok and not u.disabled:
            self.throttle.succeeded(username)
            self.lib.log_event("login_ok", Actor(u.id, u.username, ip, user_agent))
            return SignInResult(True, u)
        reason = "disabled" if (u is not None and ok) else "wrong user name or password"
        wait = self.throttle.failed(username, ip)
        self.lib.log_event("login_failed", Actor(u.id if u else None, username, ip, user_agent),
                           reason=reason, **({"wait_s": round(wait, 1)} if wait else {}))
        return SignInResult(False, u if u and ok else None, wait)

    # ------------------------------------------------------------ Hugging Face sign-in

    def hf_sign_in(self, profile: HFProfile, admin_names: Collection[str] = (), ip: str = "",
                   user_agent: str = "") -> SignInResult:
        """Someone Hugging Face has signed in. Their account is found by the OpenID subject, so a
        renamed Hugging Face user keeps it (and takes the new name); on first sign-in it is made, named
        as on Hugging Face (name@hf when another account has that name). It is an admin exactly when
        the Hugging Face name is in `admin_names` (lower case: ADMIN_USERS); the first such admin
        adopts data without an owner, as the first admin does at start-up with passwords. A disabled
        account is refused. Logged either way, with the address and user agent."""
        if not profile.sub or not profile.username:
            raise InputError("the Hugging Face sign-in named no user")
        try:
            result = self._hf_sign_in(profile, admin_names, ip, user_agent)
        except IntegrityError:  # a first sign-in of the same person (or name) at the same moment
            result = self._hf_sign_in(profile, admin_names, ip, user_agent)
        u = result.user
        if result.ok and u.is_admin and (first := self.first_admin("huggingface")) is not None and first.id == u.id:
            self.adopt_unowned(u)
        return result

    def _hf_sign_in(self, profile: HFProfile, admin_names: Collection[str], ip: str,
                    user_agent: str) -> SignInResult:
        events: list[tuple[str, dict]] = []
        with self.lib.session() as s:
            u = s.exec(select(User).where(User.hf_sub == profile.sub)).first()
            if u is not None and u.disabled:
                self.lib.log_event("login_failed", Actor(u.id, u.username, ip, user_agent), reason="disabled",
                                   via="huggingface", hf_username=profile.username)
                return SignInResult(False, u)
            if u is None:
                u = User(username=self._free_name(s, profile.username), hf_sub=profile.sub,
                         hf_username=profile.username, display_name=profile.name or profile.username)
                events.append(("user_created", {"via": "huggingface", "hf_username": profile.username}))
            elif u.hf_username != profile.username:  # renamed on Hugging Face
                name = self._free_name(s, profile.username, own_id=u.id)
                events.append(("user_renamed", {"from": u.username, "to": name, "hf_username": profile.username}))
                u.username, u.hf_username = name, profile.username
            if profile.name:
                u.display_name = profile.name
            admin = profile.username.lower() in admin_names
            if u.is_admin != admin:
                u.is_admin = admin
                events.append(("admin_granted" if admin else "admin_revoked", {"by": "ADMIN_USERS"}))
            s.add(u)
            s.commit()
            s.refresh(u)
        who = Actor(u.id, u.username, ip, user_agent)
        for type_, detail in events:
            self.lib.log_event(type_, who, **detail)
        self.lib.log_event("login_ok", who, via="huggingface", hf_username=profile.username)
        return SignInResult(True, u)

    @staticmethod
    def _free_name(s, wanted: str, own_id: int | None = None) -> str:
        """An account name for a Hugging Face user: their own name if no other account has it, else
        name@hf, name@hf2 ..."""
        base = re.sub(r"[^A-Za-z0-9._@-]", "-", wanted).lstrip("._@-")[:70] or "hf-user"
        candidates = [base] if base.lower() != LOCAL_USERNAME else []
        candidates += [f"{base}{HF_NAME_SUFFIX}{n if n > 1 else ''}" for n in range(1, 1000)]
        for name in candidates:
            other = s.exec(select(User.id).where(func.lower(User.username) == name.lower())).first()
            if other is None or other == own_id:
                return name
        raise InputError(f"no free account name for the Hugging Face user {wanted!r}")

    def hf_session_user(self, sub: str, signed_in_at: datetime) -> User | None:
        """The account of a Hugging Face session that began at `signed_in_at`; None when there is none,
        or it is disabled, or its sessions were ended after that time."""
        with self.lib.session() as s:
            u = s.exec(select(User).where(User.hf_sub == sub)).first() if sub else None
        if u is None or u.disabled:
            return None
        if u.sessions_ended_at is not None and signed_in_at < u.sessions_ended_at:
            return None
        return u

    def sync_hf_admins(self, admin_names: Collection[str]) -> list[str]:
        """Hugging Face accounts are admins exactly when ADMIN_USERS names them (checked at start-up,
        so a name taken off the list loses admin before its next sign-in). Returns the accounts changed."""
        changed = []
        with self.lib.session() as s:
            for u in s.exec(select(User).where(User.hf_sub.is_not(None)).order_by(User.id)).all():
                admin = u.hf_username.lower() in admin_names
                if u.is_admin != admin:
                    u.is_admin = admin
                    s.add(u)
                    changed.append((u.id, u.username, admin))
            s.commit()
        for uid, name, admin in changed:
            self.lib.log_event("admin_granted" if admin else "admin_revoked", Actor(uid, name), by="ADMIN_USERS")
        return [name for _, name, _ in changed]

    def actor(self, username: str | None, *, signed_in: bool, ip: str = "", user_agent: str = "") -> Actor:
        """Who is acting on a request. With sign-in on, the session's user (NotSignedIn when there
        is none, or the account is disabled or gone); with sign-in off, the local user."""
        if not signed_in:
            u = self.local_user()
            return Actor(u.id, u.username, ip, user_agent)
        u = self.get(username) if username else None
        if u is None or u.disabled or u.username == LOCAL_USERNAME:
            raise NotSignedIn("sign in first: this request has no valid session (or the account is disabled)")
        return Actor(u.id, u.username, ip, user_agent)

