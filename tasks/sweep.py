"""neardup.sweep (nightly, all-vs-all, report) and neardup.reconcile (re-send what a lost message dropped)."""
from __future__ import annotations

import os
import time

from storage.collection import checked
from worker.app import app

from .context import runtime


@app.task(name="neardup.sweep")
def sweep(collection="default", out=None, neighbors=0):
    from pipeline.outputs import write_outputs
    from pipeline.sweep import sweep as run

    rt = runtime()
    reports = os.path.realpath(os.path.join(rt.settings.data_dir, "reports"))
    out = os.path.realpath(out or os.path.join(reports, checked(collection), time.strftime("%Y%m%d-%H%M%S")))
    if os.path.commonpath([out, reports]) != reports:  # any queue client may send this: it writes only there
        raise ValueError(f"a queued sweep writes under {reports} only, not {out}")
    res = run(rt, collection, neighbors=neighbors)
    counts = write_outputs(res, out)
    return {"out": out, "images": res.total, **counts, "seconds": round(res.seconds, 1)}


@app.task(name="neardup.reconcile")
def reconcile(max_age_s=86_400, quiet_s=300, lost_after_s=30):
    """Send again what incomplete batches lack: when the broker holds no ingestion message (they were lost),
    every batch nothing happened to for `lost_after_s` seconds, else for `quiet_s` seconds."""
    from worker.client import Client

    client = Client(runtime().settings)
    now = time.time()
    quiet_since = now - (lost_after_s if client.in_flight() == 0 else quiet_s)
    return {b: client.reconcile(b) for b in client.rt.registry.incomplete_batches(now - max_age_s, quiet_since)}
