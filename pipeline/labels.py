"""The two labels ops act on. A pair the search found (within the match distance, after verification where it
ran) is a **duplicate** when the same-frame check passes (encoder/frame/: same frame, colours and
sharpness), else a **match**. The embedding's distance never makes a duplicate on its own: it is trained to
ignore the very edits that separate the two labels (a mirror image sits closer than a resize)."""
from __future__ import annotations

import functools
import logging

from neardup.encoder.decode import needs_bytes, signature_and_preview, signed_decode
from neardup.encoder.frame import CHECKER, FINEST_KEY, KEY, TOLD, WHY, Frame, difference, explained, framed_round
from neardup.errors import DecodeError
from neardup.storage.previews import SIDE
from neardup.storage.registry import in_chunks

from .embed import read_item, reading_pool
from .recent import Recent

log = logging.getLogger(__name__)
CHECKS_A_JOB = 32  # pairs sent to a process at once, with the signatures they name
CHECKED = Recent(100_000)  # same-frame results (difference()'s reasons) by the registry, the check's version and
#   the two contents: a scan labels the embedding's pairs as it indexes them and, after verification, the pairs
#   it keeps, most of them the same, and its report tells why the matches are ones. By the registry too: a
#   result remembered for one is not stored in another this process opens, which would then lack it


def label_for(distance: float, thresholds: dict, same: bool) -> str | None:
    if distance > thresholds["match"]:
        return None
    return "duplicate" if same else "match"


class Frames:
    """The same-frame signatures of the images of registry `rows`, loaded at once. An image gets its signature
    when it is first in a pair (here, made from its file): most images of a collection have no copy, and a
    signature costs about as much as the decode the encoder needs. Its report preview comes from the same
    decode: the report shows the images that are in a pair. The checks of their pairs are stored by content
    (keep()) and read back here, once, at the first pair this process has not checked: a nightly sweep, or
    another worker's step, meets the same pairs again."""

    def __init__(self, rt, rows):
        rows = [r for r in rows if r.content_hash]
        blobs = rt.registry.blobs_for(KEY, [r.content_hash for r in rows])
        blobs.update(signed(rt, [r for r in rows if r.content_hash not in blobs]))
        self.by_id = {r.id: Frame.from_bytes(blobs[r.content_hash], functools.partial(_finest, rt.registry, r.content_hash))
                      for r in rows if r.content_hash in blobs}
        self.content = {r.id: r.content_hash for r in rows}
        self.registry, self.stored, self.fresh = rt.registry, {}, {}
        self.scope = str(rt.registry.engine.url)  # CHECKED's results are this registry's
        self.processes = rt.processes

    @classmethod
    def of(cls, rt, image_ids) -> "Frames":
        return cls(rt, rt.registry.images(ids=sorted(set(image_ids))))

    def difference(self, a: int, b: int) -> str | None:
        """difference() of the pair (None: a duplicate)."""
        return self._remembered(CHECKER, a, b, difference)

    def told(self, a: int, b: int) -> str | None:
        """explained() of the pair, from its difference(): what the report tells a person."""
        return self._remembered(TOLD, a, b, lambda x, y: explained(x, y, self.difference(a, b)))

    def check_ahead(self, pairs, told: bool = False, processes=None) -> None:
        """difference() (or, `told`, explained()) of each of these pairs (image ids) not remembered yet, made at
        once in processes (pipeline/processes.py: the job's, or `processes`) where there are any: the labels
        (or the report) that follow find them remembered."""
        processes, pairs = processes or self.processes, list(pairs)
        if processes is None:
            return
        if told:  # explained() starts from difference()
            self.check_ahead(pairs, processes=processes)
        version, todo = TOLD if told else CHECKER, {}
        for a, b in pairs:
            if a in self.by_id and b in self.by_id:
                key = tuple(sorted((self.content[a], self.content[b])))  # as _remembered() keeps them
                if key not in todo and CHECKED.get((self.scope, version, *key)) is None \
                        and key not in self._stored(version):
                    todo[key] = (self.content[a], self.content[b], *([self.difference(a, b)] if told else []))
        if not processes.worth(len(todo)):
            return
        keys, by_content = sorted(todo), {self.content[i]: frame for i, frame in self.by_id.items()}
        jobs = [({h: by_content[h].to_bytes() for key in part for h in key}, [todo[key] for key in part])
                for part in in_chunks(keys, CHECKS_A_JOB)]
        made = processes.map(explanations if told else differences, jobs, least=1)
        for part, found in zip(in_chunks(keys, CHECKS_A_JOB), made):
            for key, why in zip(part, found):
                if why is not False:  # False: the pair asks for a 256-px picture, which a label reads here
                    self.fresh.setdefault(version, {})[key] = why
                    CHECKED.put((self.scope, version, *key), why or "")

    def _stored(self, version: str) -> dict:
        """The results of the check `version` stored for the pairs of these images (read once)."""
        stored = self.stored.get(version)
        if stored is None:
            stored = self.stored[version] = self.registry.frame_checks(self.content.values(), version)
        return stored

    def _remembered(self, version: str, a: int, b: int, check) -> str | None:
        """check(a's frame, b's frame), remembered by content under `version` for pairs that both have a
        signature: in this process (CHECKED), and in the registry once keep() stored it."""
        x, y = self.by_id.get(a), self.by_id.get(b)
        if x is None or y is None:
            return check(x, y)
        pair = tuple(sorted((self.content[a], self.content[b])))  # the check does not depend on the order
        found = CHECKED.get((self.scope, version, *pair))
        if found is None:
            stored = self._stored(version)
            if pair in stored:
                found = stored[pair]
            else:
                found = self.fresh.setdefault(version, {})[pair] = check(x, y)
            found = found or ""  # "": a duplicate (CHECKED answers None for what it does not hold)
            CHECKED.put((self.scope, version, *pair), found)
        return found or None

    def keep(self) -> None:
        """Store the checks made here, for later steps, sweeps and other processes (registry.frame_checks)."""
        for version, found in self.fresh.items():
            self.registry.store_frame_checks(version, found)
        self.fresh = {}

    def same(self, a: int, b: int) -> bool:
        """same_frame() of the pair."""
        return self.difference(a, b) is None

    def why(self, a: int, b: int, labelled_match: bool = False) -> str:
        """In words, why the pair is a match rather than a duplicate (encoder/frame/rules.py's WHY; "" for a
        duplicate). A pair `labelled_match` that the check passes was made a match by its group
        (pipeline/siblings.py): for an edit its larger copies show."""
        why = self.told(a, b)
        return WHY.get("siblings" if why is None and labelled_match else why, "")

    def framed(self, a: int, b: int) -> int | None:
        """Which of the two images a frame is round, where the check finds one (encoder/frame/check.py:
        framed_round)."""
        found = framed_round(self.by_id.get(a), self.by_id.get(b))
        return next((i for i in (a, b) if found is not None and self.by_id.get(i) is found), None)

    def label(self, a: int, b: int, distance: float, thresholds: dict) -> str | None:
        """`label_for`, with the same-frame check run only for a pair within the match distance."""
        return label_for(distance, thresholds, distance <= thresholds["match"] and self.same(a, b))


def differences(job: tuple[dict, list]) -> list[str | None | bool]:
    """difference() of pairs of stored signatures, as Frames.check_ahead() has its processes make them: `job` is
    ({content hash: Frame.to_bytes()}, [(hash, hash)]). A pair that asks for a 256-px gray picture (stored apart,
    and asked for by few pairs) is left to the label: False."""
    return _checked(job, difference)


def explanations(job: tuple[dict, list]) -> list[str | None | bool]:
    """explained() of pairs of stored signatures, as differences() (the pairs: (hash, hash, their difference()))."""
    return _checked(job, explained)


def _checked(job: tuple[dict, list], check) -> list:
    frames = {h: Frame.from_bytes(raw, _not_sent) for h, raw in job[0].items()}
    out = []
    for a, b, *known in job[1]:
        try:
            out.append(check(frames[a], frames[b], *known))
        except NotSent:
            out.append(False)
    return out


class NotSent(Exception):
    """A signature's 256-px gray picture, asked for where it was not sent."""


def _not_sent():
    raise NotSent


def rows_in(images: dict, pairs) -> list:
    """The registry rows (of `images`, {id: row}) of the images in these pairs, once each."""
    return [images[i] for i in sorted({i for pair in pairs for i in pair[:2]}) if i in images]


def _finest(registry, content: str) -> bytes | None:
    """The 256-px gray picture stored beside a signature (FINEST_KEY), read when a pair asks for it."""
    return registry.blobs_for(FINEST_KEY, [content]).get(content)


def signed(rt, rows) -> dict[str, bytes]:
    """The signatures of these rows' images, from their files, read and decoded again (their previews too,
    where the previews are kept and one is missing); stored, and returned as stored ({content hash: bytes}).
    A file that cannot be read, or no longer holds the bytes it was embedded from, gets none (its pairs stay
    matches); bytes at several paths are read from the first that still holds them. Made in the job's
    processes where it has them (pipeline/processes.py), else on the reading threads."""
    paths: dict[str, list[str]] = {}
    for r in rows:
        paths.setdefault(r.content_hash, []).append(r.path)
    out = {}
    if not paths:
        return out
    with reading_pool(rt.settings.threads) as pool:
        for part in in_chunks(sorted(paths), 256):
            if rt.processes is None:
                made = pool.map(lambda h: sign(sign_input(rt, paths[h], h)), part)
            else:
                made = rt.processes.map(sign, list(pool.map(lambda h: sign_input(rt, paths[h], h), part)))
            frames = {}
            for h, (frame, preview) in zip(part, made):
                if preview:
                    rt.previews.store(h, preview)
                frames[h] = frame
            # the 256-px pictures first: a step killed between the two writes leaves no signature without its own
            rt.registry.store_blobs(FINEST_KEY, {h: f.finest_bytes() for h, f in frames.items()
                                                 if f is not None and f.finest is not None})
            made = {h: f.to_bytes() for h, f in frames.items() if f is not None}
            rt.registry.store_blobs(KEY, made)
            out.update(made)
    return out


def sign_input(rt, paths: list[str], content: str) -> tuple | None:
    """What sign() needs of the image of `content` (its hash): the decode a scan kept of its bytes
    (Runtime.decodes), its bytes where there is none or the picture's detail above 256 px needs a larger decode
    (needs_bytes()), the side of the report preview to make (0: none, the previews have it) and the file's
    path; None where no file of `paths` still holds those bytes. The decode kept spares decoding the bytes again
    (and reading them, but for such a picture)."""
    previews = rt.previews if rt.previews is not None and not rt.previews.has(content) else None
    side = SIDE if previews else 0
    decodes = rt.decodes  # read once: a job of another thread (a threads pool) may end its own meanwhile
    kept = decodes.get(content) if decodes is not None else None
    if kept is not None and not needs_bytes(kept):
        return kept, None, side, paths[0]
    for path in dict.fromkeys(paths):
        item = read_item(rt, path, check_roots=False)
        if item.content_hash == content:
            return kept, item.data, side, path
    return None


def sign(found: tuple | None) -> tuple[Frame | None, bytes | None]:
    """The signature and report preview of sign_input()'s image; (None, None) where it has none. Never raises:
    a file that fails here costs its pairs the duplicate label, not the step that labels them."""
    if found is None:
        return None, None
    kept, data, side, path = found
    try:
        return signed_decode(kept, side, data) if kept else signature_and_preview(data, side)
    except DecodeError:
        return None, None
    except Exception:  # a bug or an exotic file: logged, and its pairs stay matches
        log.exception("no same-frame signature for %s", path)
        return None, None
