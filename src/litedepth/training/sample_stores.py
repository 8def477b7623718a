"""A run's decode-once sample stores (`litedepth.data.store`): one per source, resized as the run resizes."""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from .distributed import DistEnv, barrier


def store_root(cfg: Config) -> Path:
    """Where the sources' sample stores live: ``data.store_dir``, else ``samples/`` in the user cache folder."""
    from ..cache import cache_dir

    return Path(cfg.data.store_dir).expanduser() if cfg.data.store_dir else cache_dir() / "samples"


def open_stores(cfg: Config, datasets: list, side: int, env: DistEnv) -> list:
    """One `SampleStore` per dataset, resized as the run resizes (shorter side ``side``, or more where the crop
    needs it; `litedepth.training.mixing.resize`): found, or built by rank 0 while the others wait."""
    from ..data.store import open_store

    def opened(progress: bool) -> list:
        return [
            open_store(dataset, side, store_root(cfg), progress=progress, crop=cfg.model.input_size)
            for dataset in datasets
        ]

    stores = opened(cfg.train.progress) if env.is_main else None
    barrier(env)
    return stores if stores is not None else opened(False)
