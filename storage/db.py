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
    """Add the ADDED_COLUMNS an older database lacks; returns "table.column" for each one added."""
    added = []
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        insp = inspect(conn)
        for table, column, definition in ADDED_COLUMNS:
            if column not in {c["name"] for c in insp.get_columns(table)}:
                conn.execute(text(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column)} {definition}"))
                added.append(f"{table}.{column}")
    if added:
        log.warning("database upgraded: added %s", ", ".join(added))
    return added
