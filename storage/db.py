"""The schema, on SQLite (WAL, one data directory) by default or PostgreSQL for several machines.

Every write that must happen once is keyed so a retry is a no-op (DESIGN.md invariant 1): vectors by
(content hash, model version), index membership by (collection, generation, image), pairs by their two ids,
verdicts by their two content hashes and the verifier's settings.
"""
from __future__ import annotations

import base64
import os
import time
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
    true,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError


class FilePath(TypeDecorator):
    """A file path exactly as the OS gave it. Names that are not valid UTF-8 reach Python with surrogate escapes,
    which no database text column takes: those are stored as U+FFFF then the base64 of the raw bytes, and read
    back as the same string, so the file can be opened again and is reported under its own name."""
    impl = Text
    cache_ok = True
    MARK = "\uffff"

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return self.MARK + base64.b64encode(os.fsencode(value)).decode("ascii")

    def process_result_value(self, value, dialect):
        if value is not None and value.startswith(self.MARK):
            return os.fsdecode(base64.b64decode(value[len(self.MARK):]))
        return value


metadata = MetaData()

images = Table(
    "images", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("collection", String(200), nullable=False),
    Column("path", FilePath, nullable=False),
    Column("content_hash", String(64), nullable=False, default=""),
    Column("size_bytes", Integer),
    Column("width", Integer),
    Column("height", Integer),
    Column("status", String(16), nullable=False),  # pending | indexed | duplicate | match | failed | replaced
    Column("of_image", Integer),  # the earlier image a duplicate/match was found against
    Column("distance", Float),
    Column("reason", Text),
    Column("batch_id", String(64)),
    Column("updated_at", Float),
    # one row per content seen at a path ("" for content never read), so a changed file is a new image
    UniqueConstraint("collection", "path", "content_hash", name="uq_image_content"),
)
Index("ix_images_batch", images.c.batch_id)
Index("ix_images_hash", images.c.collection, images.c.content_hash)
Index("ix_images_path", images.c.collection, images.c.path)

vectors = Table(
    "vectors", metadata,
    Column("content_hash", String(64), primary_key=True),
    Column("model_version", String(64), primary_key=True),
    Column("vector", LargeBinary, nullable=False),  # float32, L2-normalised
)

hash_buckets = Table(  # each file's perceptual hashes (its own and its turns') by chunk: a batch finds its
    "hash_buckets", metadata,  # hash neighbours in its buckets without reading the collection's hashes
    Column("content_hash", String(64), primary_key=True),
    Column("chunk", Integer, primary_key=True),
    Column("hash", BigInteger, primary_key=True),  # the 64 bits, signed
    Column("value", BigInteger, nullable=False),  # the chunk's bits
    Column("own", Boolean, nullable=False),  # the picture's own hash, not a turn's
)
Index("ix_hash_buckets_value", hash_buckets.c.chunk, hash_buckets.c.value)

collections = Table(
    "collections", metadata,
    Column("name", String(200), primary_key=True),
    Column("generation", String(64)),  # the model version whose index answers queries
    Column("building", String(64)),  # a generation being re-embedded, kept in step with ingestion
    Column("epoch", Integer, nullable=False, default=0),  # bumped on every index commit: caches compare it
)

index_items = Table(
    "index_items", metadata,
    Column("collection", String(200), primary_key=True),
    Column("generation", String(64), primary_key=True),
    Column("image_id", Integer, ForeignKey("images.id"), primary_key=True),
    Column("seq", Integer, nullable=False),  # order of arrival; above every segment's last_seq: in the buffer
)
Index("ix_items_seq", index_items.c.collection, index_items.c.generation, index_items.c.seq)

tombstones = Table(  # images removed from a generation whose vectors still sit in a sealed segment
    "tombstones", metadata,
    Column("collection", String(200), primary_key=True),
    Column("generation", String(64), primary_key=True),
    Column("image_id", Integer, primary_key=True),
)

segments = Table(
    "segments", metadata,
    Column("collection", String(200), primary_key=True),
    Column("generation", String(64), primary_key=True),
    Column("segment", Integer, primary_key=True),
    Column("level", Integer, nullable=False),  # 0 sealed from the buffer, +1 per merge
    Column("count", Integer, nullable=False),
    Column("last_seq", Integer, nullable=False),  # the newest item it holds: sealing and merging move no rows
    Column("file", Text, nullable=False),
)

pairs = Table(
    "pairs", metadata,
    Column("collection", String(200), primary_key=True),
    Column("generation", String(64), primary_key=True),
    Column("a", Integer, primary_key=True),  # image ids, a < b
    Column("b", Integer, primary_key=True),
    Column("distance", Float, nullable=False),
    Column("label", String(16), nullable=False),  # duplicate | match
)

Index("ix_pairs_b", pairs.c.collection, pairs.c.generation, pairs.c.b)  # the pairs of an image: by a (the key) or b

verdicts = Table(  # geometric verification's verdicts by content: model-independent, so reused across sweeps
    "verdicts", metadata,
    Column("a_hash", String(64), primary_key=True),
    Column("b_hash", String(64), primary_key=True),  # the side whose mirror image was tried too
    Column("verifier", String(16), primary_key=True),  # the settings that reached it (pipeline.verify.Verifier)
    Column("same", Integer),  # 1 verified, 0 refuted, NULL undecided
    Column("inliers", Integer, nullable=False),
    Column("duplicate", Integer, nullable=False),
    sqlite_with_rowid=False,  # stored as its key's b-tree alone: half the size (323 -> 160 bytes a verdict)
)

frame_checks = Table(  # the same-frame check's results by content (pipeline/labels.py): a sweep, or another
    #   worker's step, meets the same pairs again
    "frame_checks", metadata,
    Column("a_hash", String(64), primary_key=True),  # a_hash < b_hash: the check does not depend on the order
    Column("b_hash", String(64), primary_key=True),
    Column("checker", String(16), primary_key=True),  # the check's version (encoder/frame CHECKER; TOLD: the
    #   report's reason, explained())
    Column("reason", String(16)),  # difference() (or explained()): a key of WHY; NULL for a duplicate
    sqlite_with_rowid=False,
)

labels = Table(  # pairs that ops confirmed (duplicate) or rejected (different), by content
    "labels", metadata,
    Column("a_hash", String(64), primary_key=True),
    Column("b_hash", String(64), primary_key=True),
    Column("label", String(16), nullable=False),
    Column("created_at", Float),
)

models = Table(
    "models", metadata,
    Column("version", String(64), primary_key=True),
    Column("path", FilePath, nullable=False),
    Column("info", JSON, nullable=False),
    Column("created_at", Float),
    Column("active", Integer, nullable=False, default=0),
    Column("previous", String(64)),  # the version that was active before this one was promoted
)

batches = Table(
    "batches", metadata,
    Column("id", String(64), primary_key=True),
    Column("collection", String(200), nullable=False),
    Column("total", Integer, nullable=False),
    Column("created_at", Float),
)

batch_items = Table(  # what a batch asked for, so a lost message can be sent again (reconcile)
    "batch_items", metadata,
    Column("batch_id", String(64), ForeignKey("batches.id"), primary_key=True),
    Column("path", FilePath, primary_key=True),
)

batch_seen = Table(  # the paths of a batch its embed step (or its client, refusing them) has recorded: until then a
    #   path's image row answers an earlier request (a file that failed then, or has since been replaced), not this one
    "batch_seen", metadata,
    Column("batch_id", String(64), ForeignKey("batches.id"), primary_key=True),
    Column("path", FilePath, primary_key=True),
)


def connect(url: str) -> Engine:
    """An engine with the schema created; SQLite gets WAL and a busy timeout so workers can share it."""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _):
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
    else:
        if url.startswith("postgresql://"):  # the driver the `postgres` extra installs
            url = "postgresql+psycopg2://" + url[len("postgresql://"):]
        engine = create_engine(url, pool_pre_ping=True)
    create_schema(engine)
    return engine


def create_schema(engine: Engine, tries: int = 20) -> None:
    """The tables and their indexes, created where missing (an index added since a table was made too).
    Worker processes that start together on a new database create them at once: one creates a table between
    another's check and its CREATE, which fails ("already exists"); that one tries again, and finds it. A database
    made before batch_seen existed gets it filled with every batch's paths: those batches were answered by the
    images' rows as they stand."""
    for attempt in range(tries):
        try:
            seen_is_new = not inspect(engine).has_table(batch_seen.name)
            metadata.create_all(engine)
            for table in metadata.sorted_tables:
                for index in table.indexes:
                    index.create(engine, checkfirst=True)
            if seen_is_new:
                with engine.begin() as conn:  # WHERE true: SQLite's upsert grammar needs a WHERE after INSERT ... SELECT
                    conn.execute(insert_ignore(conn, batch_seen).from_select(
                        ["batch_id", "path"], select(batch_items.c.batch_id, batch_items.c.path).where(true())))
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == tries - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def in_chunks(items, n: int = 500):
    """Lists of at most n items: bounded IN lists and batches."""
    group = []
    for it in items:
        group.append(it)
        if len(group) == n:
            yield group
            group = []
    if group:
        yield group


def insert_ignore(engine_or_conn, table: Table):
    """INSERT ... ON CONFLICT DO NOTHING for the dialect in use: the idempotent write."""
    name = engine_or_conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()
