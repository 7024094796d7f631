"""A static HTML report readable offline: groups and pairs as thumbnails side by side, and a 2-D PCA map
of the embeddings. Thumbnails are small JPEGs copied to `thumbs/` beside the page from the previews made
while the paired images were decoded for their same-frame signatures (storage/previews.py).
"""
from __future__ import annotations

import html
import os
from pathlib import Path

import numpy as np

from neardup.encoder.decode import open_image, preview_jpeg, read_bytes
from neardup.errors import DecodeError
from neardup.storage.previews import SIDE

from .groups import KEEPER_RULE
from .processes import processes

MAX_THUMBS = 600
MAX_SHOWN = 1000  # pairs shown, and pairs told why they are matches (0.5-3 ms each: bench/labels.py)
STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}h2{margin-top:1.6em}
.row{display:flex;gap:.6em;align-items:flex-start;flex-wrap:wrap;border-bottom:1px solid #ddd;padding:.6em 0}
figure{margin:0;text-align:center;font-size:.75em;max-width:170px;overflow-wrap:break-word}
img{max-width:160px;max-height:160px;border:1px solid #ccc}.keeper img{border:3px solid #2a7}
.tag{display:inline-block;padding:.1em .5em;border-radius:.5em;font-size:.8em;color:#fff}
.duplicate{background:#c33}.match{background:#d80}.tag.keeper{background:#2a7}.group{background:#777}
.why{font-size:.8em;color:#555;max-width:11em}
table{border-collapse:collapse}td,th{padding:.2em .8em}"""


def thumbnail(row, out: Path, previews=None) -> bool:
    """The image's stored preview, else one decoded from the file (an image embedded with previews off)."""
    if previews is not None and previews.copy_to(row.content_hash, out):
        return True
    try:
        im, _ = open_image(read_bytes(row.path), draft_to=SIDE, keep_aspect=True)
    except DecodeError:
        return False
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(preview_jpeg(im, SIDE))
    return True


def pca_svg(res, group_of: dict[int, int], size: int = 520) -> str:
    ids = list(res.vectors)
    if len(ids) < 3:
        return "<p>Too few images for a map.</p>"
    x = np.stack([res.vectors[i] for i in ids]).astype(np.float64)
    x -= x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T
    xy = (xy - xy.min(axis=0)) / np.maximum(np.ptp(xy, axis=0), 1e-9) * (size - 20) + 10
    dots = []
    for (px, py), i in zip(xy, ids):
        g = group_of.get(i)
        colour = f"hsl({(g * 137) % 360},70%,45%)" if g is not None else "#bbb"
        dots.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{4 if g is not None else 2.5}" fill="{colour}">'
                    f"<title>{html.escape(res.rel(i))}</title></circle>")
    return f'<svg width="{size}" height="{size}" style="border:1px solid #ddd">{"".join(dots)}</svg>'


def breakable(text: str) -> str:
    """Escaped, with line-break opportunities after _ . - / only, so a long file name wraps between its parts
    instead of mid-word."""
    out = html.escape(text)
    for mark in "_.-/":
        out = out.replace(mark, mark + "<wbr>")
    return out


def ordered(a: int, b: int) -> tuple[int, int]:
    """A pair of image ids as pairs are kept: the smaller first."""
    return (a, b) if a < b else (b, a)


def told(why: str) -> str:
    """Why a match is one, as the report shows it under the pair's tag or the copy's caption ("" for nothing)."""
    return f'<div class="why">{html.escape(why)}</div>' if why else ""


def write_report(res, groups: list[dict], path: Path) -> None:
    by_rel = {res.rel(i): i for i in res.images}
    thumbs: dict[int, str] = {}

    def fig(image_id: int, caption: str, label: str = "", why: str = "") -> str:
        if image_id not in thumbs and len(thumbs) < MAX_THUMBS:
            name = f"thumbs/{image_id}.jpg"
            thumbs[image_id] = name if thumbnail(res.images[image_id], path.parent / name, res.previews) else ""
        src = thumbs.get(image_id, "")
        full = html.escape(os.path.relpath(res.images[image_id].path, path.parent), quote=True)
        img = f'<a href="{full}"><img src="{src}" loading="lazy"></a>' if src else "<div>(no preview)</div>"
        tag = f'<span class="tag {label}">{label}</span><br>' if label else ""
        return (f'<figure class="{"keeper" if label == "keeper" else ""}">{img}<figcaption>{tag}{breakable(caption)}'
                f"{told(why)}</figcaption></figure>")

    group_of = {by_rel[m["path"]]: gi for gi, g in enumerate(groups) for m in g["members"]}
    parts = [f"<!doctype html><meta charset=utf-8><title>neardup report: {html.escape(res.root)}</title>",
             f"<style>{STYLE}</style><h1>neardup report</h1>",
             "<table>" + "".join(f"<tr><th align=left>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in [
                 ("folder", res.root), ("collection", res.collection), ("model", res.model_version),
                 ("images", res.total), ("failed", len(res.failed)), ("pairs", len(res.pairs)),
                 ("groups", len(groups)),
                 ("thresholds", f"duplicate ≤ {res.thresholds['duplicate']:.3f}, match ≤ {res.thresholds['match']:.3f}")]) + "</table>",
             f"<h2>Groups ({len(groups)})</h2><p>Green border: the suggested keeper: {html.escape(KEEPER_RULE)}. "
             "Under each other copy, its label against the keeper: duplicate (merged into it without a look) or "
             "match (for a person: what changed).</p>"]
    keeper_of = [by_rel[g["keeper"]] for g in groups]
    shown = res.pairs[:MAX_SHOWN]
    in_groups = [ordered(k, by_rel[m["path"]]) for k, g in zip(keeper_of, groups)
                 for m in g["members"] if m["label"] == "match"][:MAX_SHOWN]
    asked = list(dict.fromkeys(in_groups + [(a, b) for a, b, _, label in shown if label == "match"]))  # each once
    frames = res.frames([i for pair in asked for i in pair]) if res.frames and asked else None
    labels = {(a, b): label for a, b, _, label in res.pairs}
    if frames:  # what changed, for many matches: worked out in processes
        with processes(os.cpu_count() or 1) as pool:
            frames.check_ahead(asked, told=True, processes=pool)
    why = {pair: frames.why(*pair, labels.get(pair) == "match") for pair in asked} if frames else {}
    if frames:
        frames.keep()  # the reasons, for the next sweep's report
    for gi, (g, k) in enumerate(zip(groups, keeper_of)):
        figs = "".join(fig(by_rel[m["path"]], f'{m["path"]} ({m["width"]}×{m["height"]})', m["label"],
                           why.get(ordered(k, by_rel[m["path"]]), "")) for m in g["members"])
        parts.append(f'<div class="row"><span class="tag group">#{gi + 1}</span>{figs}</div>')
    parts.append(f"<h2>Pairs ({len(res.pairs)})</h2><p>A match says why it is not a duplicate: what the same-frame "
                 "check found changed.</p>")
    for a, b, d, label in shown:
        said = told(why.get((a, b), "")) if label == "match" else ""
        parts.append(f'<div class="row"><div><span class="tag {label}">{label} {d:.3f}</span>{said}</div>'
                     f"{fig(a, res.rel(a))}{fig(b, res.rel(b))}</div>")
    if len(res.pairs) > MAX_SHOWN:
        parts.append(f"<p>… and {len(res.pairs) - MAX_SHOWN} more in pairs.csv</p>")
    parts.append("<h2>Embedding map (PCA)</h2><p>Coloured: members of a group; hover a dot for its file.</p>")
    parts.append(pca_svg(res, group_of))
    if res.failed:
        parts.append(f"<h2>Failed ({len(res.failed)})</h2><table>" + "".join(
            f"<tr><td>{html.escape(p)}</td><td>{html.escape(r)}</td></tr>" for p, r in sorted(res.failed)) + "</table>")
    path.write_text("\n".join(parts), encoding="utf-8", errors="backslashreplace")
