"""Commands for the distributed setup: start a worker, submit batches, follow them, sweep, retrain."""
from __future__ import annotations

import json
import os
import sys

import click
from tqdm import tqdm

from .common import cli, collection_option, listed, settings_options, table, to_act_on


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--queues", "-Q", default="embed,index,verify", show_default=True, help="Queues to consume: "
              "embed, index, verify, sweep, train.")
@click.option("--beat", is_flag=True, help="Also run the scheduler (nightly sweeps); run exactly one.")
@click.pass_context
def worker(ctx, queues, beat):
    """Start a Celery worker with neardup's app; other options (--concurrency, --hostname, --pool,
    --loglevel ...) pass through to `celery worker`."""
    from neardup.worker.app import QUEUES, app, settings

    names = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in names if q not in QUEUES]
    if unknown or not names:  # Celery would create such a queue, and the worker wait on it for messages never sent
        raise click.BadParameter(f"no such queue: {', '.join(unknown) or '(none named)'} "
                                 f"(neardup's queues: {', '.join(QUEUES)})", param_hint="--queues")
    argv = ["worker", "-Q", ",".join(names), *ctx.args]
    if beat:  # the scheduler's state lives with the rest of neardup's, not in the current directory
        os.makedirs(settings.data_dir, exist_ok=True)
        argv += ["--beat", "--schedule", os.path.join(settings.data_dir, "celerybeat-schedule")]
    if not any(a.startswith("--loglevel") or a == "-l" for a in ctx.args):
        argv.append("--loglevel=INFO")
    app.worker_main(argv)


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@collection_option()
@click.option("--wait", is_flag=True, help="Show progress and print the batch's result.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up after this many seconds.")
@click.option("--fast", is_flag=True, help="With --wait: the embedding's answer, as soon as every image is "
              "indexed, without waiting for verification.")
@click.option("--json", "as_json", is_flag=True)
@settings_options
def submit(paths, collection, wait, timeout, fast, as_json, settings):
    """Queue images (files, or folders walked recursively; `-`: the paths on standard input, one a line) for
    ingestion; print the batch id (with --json: as JSON, or with --wait the result alone)."""
    from neardup.errors import ModelUnavailable, NoImages, PathNotAllowed
    from neardup.worker.client import Client

    try:
        handle = Client(settings).submit(listed(paths), collection)
    except (PathNotAllowed, NoImages, ModelUnavailable) as exc:
        raise click.ClickException(str(exc))
    if not wait:
        click.echo(json.dumps({"batch_id": handle.batch_id}) if as_json else handle.batch_id)
        return
    # with --json, standard output is one JSON document (the result names the batch); the id goes to standard
    #   error meanwhile, so that a wait that times out still says which batch it was
    click.echo(handle.batch_id, err=as_json)
    total = handle.status()["total"]
    with tqdm(total=total, unit="img", desc="batch", file=sys.stderr, disable=None) as bar:
        def progress(st):
            bar.update(st["done"] - bar.n)
        try:
            st = handle.result(timeout=timeout, progress=progress, verified=not fast, explain=True,
                               notice=lambda text: tqdm.write(f"warning: {text}", file=sys.stderr))
        except TimeoutError as exc:
            raise click.ClickException(str(exc))
    _print_status(st, as_json)


@cli.command()
@click.argument("batch_id")
@click.option("--fast", is_flag=True, help="Images still being verified: the embedding's answer.")
@click.option("--json", "as_json", is_flag=True)
@settings_options
def status(batch_id, fast, as_json, settings):
    """Each image of a batch: indexed, duplicate-of X, match-of Y (and what changed), failed: reason, or still
    queued, pending (embedded) or verifying."""
    from neardup.worker.client import Client, unserved_message

    handle = Client(settings).handle(batch_id)
    try:
        st = handle.status(verified=not fast, explain=True)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0]))
    _print_status(st, as_json)
    idle = handle.unserved(st)  # why a batch stands still, where that is why
    if idle:
        click.echo(f"warning: {unserved_message(batch_id, idle, not fast)}", err=True)


def _print_status(st: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(st, indent=1))
        return
    rows = []
    for it in st["items"]:
        detail = {"duplicate": f"duplicate-of {it.get('of')} ({it.get('distance', 0):.3f})",
                  "match": f"match-of {it.get('of')} ({it.get('distance', 0):.3f})"
                           + (f": {it['why']}" if it.get("why") else ""),
                  "failed": f"failed: {it.get('reason')}"}.get(it["state"], it["state"])
        rows.append((it["path"], detail))
    click.echo(table(rows, ("image", "state")))
    click.echo(f"\n{st['done']}/{st['total']} done: " + ", ".join(f"{k} {v}" for k, v in sorted(st["counts"].items())))


def waited(res, queue: str):
    """A queued task's result; a warning on stderr if no worker consumes its queue (worker/client.py task_result)."""
    from neardup.worker.client import task_result

    return task_result(res, queue, notice=lambda text: click.echo(f"warning: {text}", err=True))


@cli.command()
@collection_option()
@click.option("--out", "-o", type=click.Path(file_okay=False), help="Where the outputs go [default: here, "
              "./neardup-sweep-COLLECTION; queued, DATA_DIR/reports/COLLECTION/TIME, the only place a queued sweep "
              "writes to].")
@click.option("--neighbors", "-k", type=click.IntRange(min=0), default=0)
@click.option("--queue", "use_queue", is_flag=True, help="Run on a sweep worker instead of here.")
@settings_options
def sweep(collection, out, neighbors, use_queue, settings):
    """All-vs-all pass over a collection: pairs.csv, groups.json, report.html, as `scan` writes."""
    if use_queue:
        from neardup.worker.app import app

        res = app.send_task("neardup.sweep", kwargs=dict(collection=collection, out=out and os.path.abspath(out),
                                                         neighbors=neighbors), queue="sweep")
        try:
            click.echo(json.dumps(waited(res, "sweep"), indent=1))
        except ValueError as exc:
            raise click.ClickException(str(exc))
        return
    from neardup.pipeline.outputs import write_outputs
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.sweep import sweep as run

    rt = Runtime(settings)
    try:
        with rt.in_processes():
            res = run(rt, collection, neighbors=neighbors)
    except LookupError as exc:
        raise click.ClickException(str(exc))
    counts = write_outputs(res, out or f"neardup-sweep-{collection}")
    click.echo(table([(k, counts[k]) for k in ("groups", "pairs", "failed")] + to_act_on(counts)
                     + [("seconds", f"{res.seconds:.1f}")]))


@cli.command()
@collection_option()
@click.option("--epochs", type=int, default=None)
@click.option("--force", is_flag=True, help="Promote even if not better on validation.")
@click.option("--wait", is_flag=True)
@click.option("--config", "config_json", default="{}", help="TrainConfig fields as JSON, e.g. '{\"width\": 16}'.")
def retrain(collection, epochs, force, wait, config_json):
    """Queue retraining on the train queue (promotion and rollout follow if the new model is as good)."""
    from neardup.worker.app import app

    try:
        config = json.loads(config_json)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--config")
    if epochs:
        config["epochs"] = epochs
    res = app.send_task("neardup.retrain", kwargs=dict(collection=collection, config=config, force=force),
                        queue="train")
    click.echo(res.id)
    if wait:
        try:
            click.echo(json.dumps(waited(res, "train"), indent=1))
        except (ValueError, LookupError, TypeError) as exc:  # what the task refuses (too few images, an unknown
            #   --config field)
            raise click.ClickException(f"retraining refused: {exc}")


@cli.command()
@click.argument("a", type=click.Path(exists=True, dir_okay=False))
@click.argument("b", type=click.Path(exists=True, dir_okay=False))
@click.argument("label", type=click.Choice(["duplicate", "different"]))
@settings_options
def label(a, b, label, settings):
    """Record that ops confirmed (duplicate) or rejected (different) a pair; used by retraining."""
    from neardup.encoder.decode import content_hash, open_image, read_bytes
    from neardup.errors import DecodeError
    from neardup.pipeline.runtime import Runtime

    hashes = []
    for path in (a, b):
        try:
            data = read_bytes(path)
            open_image(data)
        except DecodeError as exc:  # a label retraining could never use
            raise click.ClickException(f"{path}: {exc}")
        hashes.append(content_hash(data))
    if hashes[0] == hashes[1]:
        raise click.ClickException(f"{a} and {b} hold the same bytes: nothing to label")
    Runtime(settings).registry.add_label(*hashes, label)
    click.echo(f"{label}: {a} {b}")


@cli.command()
@click.argument("paths", nargs=-1)
@collection_option()
@click.option("--missing", is_flag=True, help="Also every image of the collection whose file is gone from its folder "
              "(a folder that is gone, or not mounted here, is left alone unless named).")
@click.option("--json", "as_json", is_flag=True)
@settings_options
def remove(paths, collection, missing, as_json, settings):
    """Take images out of a collection (files, or every image under a folder, on disk or not; `-`: the paths
    on standard input, one a line): no later upload, sweep or report pairs them. Submitted or scanned again, they
    come back."""
    from neardup.pipeline.remove import remove as take_out
    from neardup.pipeline.runtime import Runtime

    paths = listed(paths)
    if not paths and not missing:
        raise click.UsageError("name the images or folders to remove, or give --missing")
    done = take_out(Runtime(settings), collection, paths, missing, _writer_lock(settings)(collection))
    if as_json:
        click.echo(json.dumps({"removed": done.removed, "unknown": done.unknown}, indent=1))
        return
    for path in done.unknown:
        click.echo(f"not in {collection}: {path}", err=True)
    click.echo(f"removed {len(done.removed)} image(s) from {collection}")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@settings_options
def models(as_json, settings):
    """Model versions: which is active, their thresholds and validation figures."""
    from neardup.pipeline.runtime import Runtime

    rt = Runtime(settings)
    rt.active_model_path()
    rows = rt.models.all()
    if as_json:
        click.echo(json.dumps([{"version": r.version, "active": bool(r.active), "path": r.path,
                                "thresholds": r.info.get("thresholds"), "metrics": r.info.get("metrics")}
                               for r in rows], indent=1))
        return
    click.echo(table([("*" if r.active else "", r.version, json.dumps(r.info.get("thresholds")),
                       json.dumps(r.info.get("metrics", {}).get("validation", {})), r.path) for r in rows],
                     ("", "version", "thresholds", "validation", "path")))


@cli.command()
@click.argument("target", metavar="MODEL")
@click.option("--roll-out", is_flag=True, help="Also re-embed every collection live on the model active now into "
              "MODEL's generation and switch it (rollback undoes both).")
@settings_options
def promote(target, roll_out, settings):
    """Make MODEL (a version, a shipped model's name, a .keras file) the active model, once it has loaded and
    embedded a test image. New collections use it; existing ones keep theirs unless --roll-out."""
    from neardup.pipeline.retrain import promote as run
    from neardup.pipeline.runtime import Runtime

    rt = Runtime(settings)
    try:
        version = rt.registered(target)
        # the broker is asked for the collections' lock only when a collection is rolled out
        moved = run(rt, version, roll_out, lock_for=lambda collection: _writer_lock(settings)(collection))
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0]))
    except (ValueError, LookupError) as exc:  # a file that cannot serve, a version no file holds now
        raise click.ClickException(str(exc))
    click.echo(f"active: {version}" + (f" (rolled out: {', '.join(moved)})" if moved else ""))


@cli.command()
@settings_options
def rollback(settings):
    """Make the previously active model active again, and switch every collection live on the current one
    back to the previous model's generation (images ingested since are embedded into it first)."""
    from neardup.pipeline.retrain import rollback as run
    from neardup.pipeline.runtime import Runtime

    try:
        click.echo(f"active: {run(Runtime(settings), lock_for=_writer_lock(settings))}")
    except LookupError as exc:
        raise click.ClickException(str(exc))


@cli.command()
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@click.option("--batch-days", type=click.FloatRange(min=0), default=None,
              help="Forget batches older than this many days (default: a month; their images stay).")
@click.option("--json", "as_json", is_flag=True)
@settings_options
def prune(dry_run, batch_days, as_json, settings):
    """Delete what no answer needs: the vectors, signatures, verdicts and previews of pictures no collection
    holds (removed or replaced), the vectors and indexes of retired model versions (the active one, the one
    before it and every collection's are kept), results of older versions of the checks, and old batches.
    Ops' labels stay."""
    from neardup.pipeline.prune import prune as run
    from neardup.pipeline.runtime import Runtime

    done = run(Runtime(settings), dry_run, lock_for=_writer_lock(settings), batch_days=batch_days)
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "rows": done.rows, "files": done.files}, indent=1))
        return
    click.echo(table([(name, n) for name, n in {**done.rows, **done.files}.items()],
                     ("what", "would go" if dry_run else "deleted")))
    click.echo(f"{'would delete' if dry_run else 'deleted'} {done.total} row(s) and file(s)")


def _writer_lock(settings):
    """The collections' index lock when a broker answers (workers may be writing), else none (a local index)."""
    import contextlib

    import redis

    try:
        redis.Redis.from_url(settings.broker_url, socket_connect_timeout=2).ping()
    except redis.RedisError:
        return lambda collection: contextlib.nullcontext
    from neardup.tasks.context import collection_lock

    return lambda collection: (lambda: collection_lock(collection, wait=None, url=settings.broker_url))
