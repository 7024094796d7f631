"""neardup.sweep (nightly, all-vs-all, report) and neardup.reconcile (re-send what a lost message dropped)."""
from __future__ import annotations

import os
import time

from celery import shared_task

from neardup.storage.collection import checked

from .context import runtime


@shared_task(name="neardup.sweep")
def sweep(collection="default", out=None, neighbors=0):
    from neardup.pipeline.outputs import write_outputs
    from neardup.pipeline.sweep import sweep as run

    rt = runtime()
    reports = os.path.realpath(os.path.join(rt.settings.data_dir, "reports"))
    out = os.path.realpath(out or os.path.join(reports, checked(collection), time.strftime("%Y%m%d-%H%M%S")))
    if os.path.commonpath([out, reports]) != reports:  # any queue client may send this: it writes only there
        raise ValueError(f"a queued sweep writes under {reports} only, not {out}")
    res = run(rt, collection, neighbors=neighbors)
    counts = write_outputs(res, out)
    return {"out": out, "images": res.total, **counts, "seconds": round(res.seconds, 1)}


@shared_task(name="neardup.reconcile", bind=True)
def reconcile(self, max_age_s=86_400, quiet_s=300, lost_after_s=30):
    """Send again what incomplete batches lack: when the broker holds no ingestion message (they were lost),
    every batch nothing happened to for `lost_after_s` seconds, else for `quiet_s` seconds."""
    from .context import in_flight
    from .ingest import resend_missing

    rt = runtime()
    now = time.time()
    quiet_since = now - (lost_after_s if in_flight(self.app.conf.broker_url) == 0 else quiet_s)
    return {b: resend_missing(self.app, rt, b) for b in rt.registry.incomplete_batches(now - max_age_s, quiet_since)}
