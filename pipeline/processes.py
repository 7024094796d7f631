"""Processes for the same-frame check's work in a job that runs in one process (a scan). Its signatures and pair
checks are NumPy and OpenCV on small arrays: thousands of short calls, each taking Python's lock back, so
threads run them about one at a time; processes run them on every core (docs/benchmarks.md). A Celery step
runs without them: the queue's parallelism is its worker processes, and a prefork child (daemonic) can start
none.

The processes are forked, not spawned: a spawned process imports the parent's main script again, which runs a
user's script that does not guard its scan with `if __name__ == "__main__"` a second time. They are forked when
the job starts, before it starts its threads and, in a fresh process, before it loads the encoder; they run
only the check's own code (NumPy, OpenCV, Pillow) on what they are sent."""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import cv2

log = logging.getLogger(__name__)
LEAST_WORK = 16  # signatures or pair checks: fewer are done where they are asked for (sending costs more)


class Processes:
    """A pool of `workers` forked processes; map() falls back to the calling thread where the pool broke."""

    def __init__(self, workers: int):
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                        initializer=_one_thread)
        self.pool.submit(int).result()  # forked now: with fork, every worker starts at the first task
        self.broken = False

    def map(self, fn, items: list, least: int = LEAST_WORK) -> list:
        """[fn(item) for item in items], in the processes where there are `least` items or more; in this thread
        where there are fewer, or where a process died (killed, out of memory): then here from now on."""
        if len(items) >= least and not self.broken:
            try:
                return list(self.pool.map(fn, items))
            except BrokenProcessPool:
                log.warning("a process of the same-frame check stopped; its work goes on in this one")
                self.broken = True
        return [fn(item) for item in items]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _one_thread() -> None:
    """A worker's OpenCV on one thread: the processes are the parallelism."""
    cv2.setNumThreads(1)


@contextlib.contextmanager
def processes(workers: int):
    """Processes for the length of a job, or None where they would not help (one core) or cannot start (a
    daemonic process: a Celery worker's child)."""
    if workers < 2 or multiprocessing.current_process().daemon:
        yield None
        return
    try:
        found = Processes(workers)
    except OSError as exc:  # no memory or no process slots left: the job runs as it would on one core
        log.warning("no processes for the same-frame check (%s)", exc)
        yield None
        return
    try:
        yield found
    finally:
        found.close()
