"""The files a scan or sweep leaves behind: pairs.csv, neighbors.csv, groups.json, failed.csv, report.html.

pairs.csv and neighbors.csv use the scoring format of `../shared/bench/score.py`. The CSV files hold file names
byte for byte, also names that are not valid UTF-8 (written back with surrogateescape); groups.json escapes
them as JSON does (a backslash, u, dcXX), and the report shows them with the odd bytes escaped.
"""
from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from .groups import components, keeper
from .report import write_report


def groups_of(res) -> list[dict]:
    groups = components(res.pairs)
    group_of = {m: g for g, members in enumerate(groups) for m in members}
    pairs_of: list[list] = [[] for _ in groups]  # each group's own pairs, in one pass over all of them
    for pair in res.pairs:
        pairs_of[group_of[pair[0]]].append(pair)
    out = []
    for members, pairs, (round_, tones) in zip(groups, pairs_of, keeper_hints(res, pairs_of)):
        rows = [res.images[m] for m in members]
        keep = keeper(rows, pairs, round_, tones)
        labels = {label for _, _, _, label in pairs}
        to_keeper = labels_to(keep.id, pairs)
        out.append({
            "kind": "duplicate" if labels == {"duplicate"} else "match",
            "keeper": res.rel(keep.id),
            "members": [{"path": res.rel(r.id), "width": r.width, "height": r.height, "bytes": r.size_bytes,
                         "keeper": r.id == keep.id,
                         "label": "keeper" if r.id == keep.id else to_keeper.get(r.id, "match")} for r in rows],
        })
    return out


def labels_to(keep: int, pairs) -> dict[int, str]:
    """Each copy's label against the keeper, by copy (copies with none are matches): what ops act on. A copy's
    own pair with the keeper gives it. A copy not paired with it (each keeps at most `max_partners` pairs: a
    picture stored hundreds of times) is a duplicate where duplicate pairs join it to the keeper and none of
    the copies so joined calls it a match; any other copy is a match, for a person to look at."""
    joined = next((set(g) for g in components([p for p in pairs if p[3] == "duplicate"]) if keep in g), set())
    doubted = {i for a, b, _, label in pairs if label == "match" and a in joined and b in joined for i in (a, b)}
    own = {b if a == keep else a: label for a, b, _, label in pairs if keep in (a, b)}
    return {**dict.fromkeys(joined - doubted - {keep}, "duplicate"), **own}


HINTS_AT_ONCE = 2_000  # signatures loaded together for the keeper's hints (a few tens of kB each)


def keeper_hints(res, pairs_of: list[list]):
    """Per group (its pairs), what the keeper needs of the copies' signatures (res.frames), loaded a few
    thousand at a time: in a group without a duplicate pair, the copies a frame is round (there no set of
    copies sharing a frame picks the keeper, and a border or a bar adds the pixels it would otherwise win on;
    a frame check per match pair); in one with three or more copies joined by duplicate pairs, their tones.
    Yields (framed ids, {id: tones} or None) in the groups' order."""
    pending, ids = [], set()
    for pairs in pairs_of:
        open_ = not any(label == "duplicate" for *_, label in pairs)
        own = {i for a, b, _, label in pairs if open_ or label == "duplicate" for i in (a, b)}
        own = own if open_ or len(own) >= 3 else set()
        pending.append((pairs, open_, own))
        ids |= own
        if len(ids) >= HINTS_AT_ONCE:
            yield from _hints(res, pending, ids)
            pending, ids = [], set()
    yield from _hints(res, pending, ids)


def _hints(res, pending, ids):
    frames = res.frames(sorted(ids)) if res.frames and ids else None
    for pairs, open_, own in pending:
        if frames is None or not own:
            yield set(), None
        elif open_:
            yield {i for a, b, *_ in pairs if (i := frames.framed(a, b)) is not None}, None
        else:
            yield set(), {i: f.tones for i in own if (f := frames.by_id.get(i)) is not None}


def _csv(path: Path):
    return open(path, "w", newline="", encoding="utf-8", errors="surrogateescape")


def write_outputs(res, out: str | Path, report: bool = True) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with _csv(out / "pairs.csv") as fh:
        w = csv.writer(fh)
        w.writerow(["a", "b", "distance", "label"])
        for a, b, d, label in res.pairs:
            w.writerow([res.rel(a), res.rel(b), f"{d:.6f}", label])
    if res.neighbors:
        with _csv(out / "neighbors.csv") as fh:
            w = csv.writer(fh)
            w.writerow(["query", "neighbor", "distance"])
            for q, n, d in res.neighbors:
                w.writerow([res.rel(q), res.rel(n), f"{d:.6f}"])
    with _csv(out / "failed.csv") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "reason"])  # relative to the scanned folder, as in pairs.csv
        w.writerows(sorted((res.rel_path(p), reason) for p, reason in res.failed))
    groups = groups_of(res)
    (out / "groups.json").write_text(json.dumps({
        "collection": res.collection, "model_version": res.model_version, "thresholds": res.thresholds,
        "groups": groups}, indent=1))
    if report:
        write_report(res, groups, out / "report.html")
    labels = Counter(m["label"] for g in groups for m in g["members"])
    return {"groups": len(groups), "pairs": len(res.pairs), "failed": len(res.failed),
            "to_merge": labels["duplicate"], "to_review": labels["match"]}
