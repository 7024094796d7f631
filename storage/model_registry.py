"""The model registry: every encoder version, which one is active, and the way back.

Promotion records the previous active version, the way back of `pipeline.retrain.rollback`; thresholds and validation
figures are stored with each version (DESIGN.md invariant 4).
"""
from __future__ import annotations

import time

from sqlalchemy import select, update

from . import db


class ModelRegistry:
    def __init__(self, engine):
        self.engine = engine

    def register(self, version: str, path: str, info: dict) -> None:
        with self.engine.begin() as conn:
            conn.execute(db.insert_ignore(conn, db.models).values(
                version=version, path=str(path), info=info, created_at=time.time(), active=0))

    def active(self):
        with self.engine.connect() as conn:
            return conn.execute(select(db.models).where(db.models.c.active == 1)).first()

    def get(self, version: str):
        with self.engine.connect() as conn:
            return conn.execute(select(db.models).where(db.models.c.version == version)).first()

    def all(self):
        with self.engine.connect() as conn:
            return conn.execute(select(db.models).order_by(db.models.c.created_at)).all()

    def promote(self, version: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(db.models.c.version).where(db.models.c.version == version)).first() is None:
                raise KeyError(f"unknown model version {version}")
            current = conn.execute(select(db.models.c.version).where(db.models.c.active == 1)).scalar()
            if current == version:
                return
            conn.execute(update(db.models).values(active=0))
            conn.execute(update(db.models).where(db.models.c.version == version).values(active=1, previous=current))
