"""What stops a run before its end: a loss or weights that are no longer finite, a write that fails.

Either way the run folder stays an unfinished run (its marker says ``training``; no
``model.safetensors`` is written), ``last.pt`` stays the last good checkpoint (no checkpoint is
written from weights that are not finite), and the user reads one line: what happened at which
step, its likely cause and how to go on.

The loss is watched on the device (`NonFiniteWatch`): a training step reads nothing back, and the
first bad step is read where the loop reads the running loss anyway (every ``train.log_every``
steps, at the end of an epoch and before every checkpoint).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import nonfinite_tensors
from ..config import Config
from ..errors import LitedepthError, first_line, is_disk_full
from .distributed import DistEnv

_NONE = 2**62  # "no bad step" in the minimum over processes


class NonFiniteWatch:
    """The first optimiser step whose loss terms were NaN or infinite, kept on the device (0: none yet)."""

    def __init__(self, device: torch.device) -> None:
        self.first = torch.zeros((), dtype=torch.int64, device=device)

    def update(self, terms: torch.Tensor, step: int) -> None:
        """Record ``step`` if ``terms`` (the step's loss terms, unread) are not all finite and no step was before."""
        bad = (self.first == 0) & ~torch.isfinite(terms).all()
        self.first = torch.where(bad, step, self.first)

    def first_step(self, env: DistEnv) -> int:
        """The first bad step of any process (0: none); waits for the device, a collective under torchrun."""
        first = self.first
        if env.distributed:
            import torch.distributed as dist

            device = env.device if env.device.type == "cuda" else "cpu"
            first = torch.where(first > 0, first, _NONE).to(device)
            dist.all_reduce(first, op=dist.ReduceOp.MIN)
            first = torch.where(first == _NONE, 0, first)
        return int(first)


class RunStopped(LitedepthError):
    """A run that stopped before its end, its folder left an unfinished run (one line: what, where, what next)."""


def _unfinished(out: Path, saved_step: int | None) -> str:
    where = f"its last checkpoint (step {saved_step})" if saved_step else "no checkpoint yet"
    return f"the run in {out} is left unfinished with {where}"


def diverged(cfg: Config, out: Path, step: int, saved_step: int | None) -> RunStopped:
    """The one line for a loss that became NaN or infinite at ``step``."""
    return RunStopped(
        f"step {step}: the training loss is NaN or infinite: the learning rate is likely too high "
        f"(optim.lr={cfg.optim.lr:g}) or a training image or depth map holds NaN or infinite values; "
        f"{_unfinished(out, saved_step)}: lower optim.lr and train again with --overwrite, or fix the data and --resume"
    )


def check_weights(model: torch.nn.Module, cfg: Config, out: Path, step: int, saved_step: int | None) -> None:
    """Refuse to go on (to checkpoint, to save the model) from weights with NaN or infinite values."""
    state = model.state_dict()
    bad = nonfinite_tensors(state)
    if bad:
        raise RunStopped(
            f"step {step}: {len(bad)} of {len(state)} weight tensors hold NaN or infinite values "
            f"(first: {bad[0]}): the learning rate is likely too high (optim.lr={cfg.optim.lr:g}); "
            f"{_unfinished(out, saved_step)}: lower optim.lr and train again with --overwrite"
        )


def stopped_by(exc: Exception, out: Path, step: int, saved_step: int | None) -> RunStopped:
    """The one line for a failure during training: a file that could not be written (a full disk: ENOSPC,
    EFBIG or EDQUOT) or read, a bad image late in an epoch (also from a DataLoader worker)."""
    full = is_disk_full(exc)
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f"{exc.filename}: " if exc.filename else ""
        what = where + ("no space left on device" if full else exc.strerror or first_line(exc))
    else:
        what = _original_message(exc)
    fix = "free some space" if full else "fix this"
    when = f"after step {step}" if step else "before its first step"
    return RunStopped(
        f"{what}; training stopped {when} and {_unfinished(out, saved_step)}: {fix}, then --resume continues it"
    )


def _original_message(exc: Exception) -> str:
    """The message of ``exc``; for an error a DataLoader worker re-raised, the worker's own (its last line)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Caught ") and "worker" in lines[0]:
        kind, _, message = lines[-1].partition(": ")
        return message if isinstance(exc, LitedepthError) or not message else f"{kind.rsplit('.', 1)[-1]}: {message}"
    return first_line(exc)
