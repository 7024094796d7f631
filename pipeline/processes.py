"""Processes for the same-frame check's work in a job that runs in one process (a scan, a sweep run by the CLI,
a report's reasons). Its signatures and pair checks are NumPy and OpenCV on small arrays: thousands of short
calls, each taking Python's lock back, so threads run them about one at a time; processes run them on every
core (docs/benchmarks.md). The queue's embed, index and verify steps run without them: its parallelism is its
worker processes.

The processes are forked, not spawned: a spawned process imports the parent's main script again, which runs a
user's script that does not guard its scan with `if __name__ == "__main__"` a second time. They are forked the
first time the job has enough work for them, so a job whose images have few copies never pays for them
(a forked child shares the parent's memory, and every page the parent writes then is copied). Forked from a
process that runs threads, a child runs only the check's own code (NumPy, OpenCV, Pillow) on what it is sent;
should it still hang, the work is done in the calling thread after HUNG seconds."""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as Timeout
from concurrent.futures.process import BrokenProcessPool

import cv2

log = logging.getLogger(__name__)
LEAST_WORK = 16  # signatures or pair checks: fewer are done where they are asked for (sending costs more)
HUNG = 600.0  # seconds: a map() whose results take longer than this is done again in the calling thread


class Processes:
    """A pool of `workers` processes, forked at the first map() with enough work; map() falls back to the
    calling thread where the pool broke."""

    def __init__(self, workers: int):
        self.workers, self.pool, self.broken = workers, None, False

    @staticmethod
    def worth(n: int) -> bool:
        """Whether n signatures or pair checks are worth sending to the processes (LEAST_WORK)."""
        return n >= LEAST_WORK

    def map(self, fn, items: list, least: int | None = None) -> list:
        """[fn(item) for item in items], in the processes where there are `least` items or more (worth() them,
        by default); in this thread where there are fewer, or where a process died (killed, out of memory) or
        hung: then here from now on."""
        if (self.worth(len(items)) if least is None else len(items) >= least) and not self.broken:
            try:
                if self.pool is None:
                    self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"),
                                                    initializer=_one_thread)
                return list(self.pool.map(fn, items, timeout=HUNG))
            except (BrokenProcessPool, Timeout, OSError) as exc:  # OSError: none could be forked
                log.warning("the same-frame check's processes failed (%s); their work goes on in this one",
                            "no answer" if isinstance(exc, Timeout) else exc)
                self.broken = True
                self.close()
        return [fn(item) for item in items]

    def close(self) -> None:
        if self.pool is not None:
            children = list((getattr(self.pool, "_processes", None) or {}).values())  # the executor's own
            self.pool.shutdown(wait=not self.broken, cancel_futures=True)
            if self.broken:  # a hung child would outlive the job
                for child in children:
                    child.kill()
            self.pool = None


def _one_thread() -> None:
    """A child's OpenCV on one thread: the processes are the parallelism."""
    cv2.setNumThreads(1)


@contextlib.contextmanager
def processes(workers: int):
    """Processes for the length of a job, or None where they would not help (one core) or cannot start (a
    daemonic process)."""
    if workers < 2 or multiprocessing.current_process().daemon:
        yield None
        return
    found = Processes(workers)
    try:
        yield found
    finally:
        found.close()
