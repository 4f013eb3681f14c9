"""Database engine: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL."""

from __future__ import annotations

import logging

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from storage import models  # noqa: F401  (registers the tables)

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000

# Columns added since the first release, as (table, column, SQL definition): a database made by an
# earlier release gets them on start-up (create_all makes missing tables, never missing columns).
ADDED_COLUMNS = [
    ("user", "disabled", "BOOLEAN NOT NULL DEFAULT FALSE"),
    ("user", "sessions_ended_at", "TIMESTAMP WITH TIME ZONE"),
    ("user", "hf_sub", "VARCHAR(100)"),
    ("user", "hf_username", "VARCHAR(100) NOT NULL DEFAULT ''"),
    ("voiceprofile", "consent_method", "VARCHAR(12) NOT NULL DEFAULT ''"),
    ("voiceprofile", "consent", "JSON NOT NULL DEFAULT '{}'"),
]
# Indexes on added columns, as (name, table, column, unique): ALTER TABLE cannot add a UNIQUE column in
# SQLite, so the constraint comes as an index, named as create_all names it on a new database.
ADDED_INDEXES = [
    ("ix_user_hf_sub", "user", "hf_sub", True),
]


def make_engine(url: str) -> Engine:
    """Create the engine and the tables. `url` is a SQLAlchemy URL."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    SQLModel.metadata.create_all(engine)
    add_missing_columns(engine)
    log.info("database ready: %s", engine.url.render_as_string(hide_password=True))
    return engine


def add_missing_columns(engine: Engine) -> list[str]:
    """Add the ADDED_COLUMNS and ADDED_INDEXES an older database lacks; returns "table.column" for each
    column and the name of each index added."""
    added = []
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        insp = inspect(conn)
        for table, column, definition in ADDED_COLUMNS:
            if column not in {c["name"] for c in insp.get_columns(table)}:
                conn.execute(text(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column)} {definition}"))
                added.append(f"{table}.{column}")
        for name, table, column, unique in ADDED_INDEXES:
            if name not in {i["name"] for i in inspect(conn).get_indexes(table)}:
                conn.execute(text(f"CREATE {'UNIQUE ' if unique else ''}INDEX {quote(name)} "
                                  f"ON {quote(table)} ({quote(column)})"))
                added.append(name)
    if added:
        log.warning("database upgraded: added %s", ", ".join(added))
    return added
