"""Work of a study spread over processes of their own, their log messages shown by this process.

>>> rows = map_in_processes(train_one_seed, work, jobs=3)    # [train_one_seed(w) for w in work], 3 at a time
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

PACKAGE_LOGGER = "litedepth"


def map_in_processes(fn: Callable[[Any], Any], items: Sequence[Any], jobs: int) -> list[Any]:
    """``[fn(item) for item in items]``, computed in up to ``jobs`` spawned processes.

    Spawned, not forked: safe with CUDA; an executor's processes (unlike a Pool's) may start
    DataLoader workers. What the workers log under ``litedepth`` (at this process's level) goes
    through this process's handlers, as if logged here.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from logging.handlers import QueueListener

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    listener = QueueListener(queue, _Relay())
    listener.start()
    level = logging.getLogger(PACKAGE_LOGGER).getEffectiveLevel()
    try:
        with ProcessPoolExecutor(
            min(jobs, len(items)), mp_context=context, initializer=_log_to_queue, initargs=(queue, level)
        ) as pool:
            return list(pool.map(fn, items))
    finally:
        listener.stop()


class _Relay(logging.Handler):
    """Hands a worker's record to the logger of the same name here, and so to its handlers."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


def _log_to_queue(queue, level: int) -> None:
    """In a worker: every ``litedepth`` record at ``level`` or above goes onto ``queue``, nowhere else."""
    from logging.handlers import QueueHandler

    logger = logging.getLogger(PACKAGE_LOGGER)
    logger.handlers[:] = [QueueHandler(queue)]
    logger.setLevel(level)
    logger.propagate = False
