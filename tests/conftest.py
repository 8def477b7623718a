import numpy as np
import pytest
import torch
from PIL import Image

from litedepth.outputs import MARKER

# One thread: on a shared 2-core machine, two intra-op threads per test process can make small
# forward passes hundreds of times slower when the other core is busy.
torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _own_cache(tmp_path_factory):
    """The suite's own litedepth cache (sample stores, downloads), never the user's: subprocesses inherit it."""
    import os

    saved = os.environ.get("LITEDEPTH_CACHE")
    os.environ["LITEDEPTH_CACHE"] = str(tmp_path_factory.mktemp("litedepth-cache"))
    yield
    if saved is None:
        os.environ.pop("LITEDEPTH_CACHE", None)
    else:
        os.environ["LITEDEPTH_CACHE"] = saved


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def rgb_image(tmp_path):
    """A 90 x 120 RGB test image on disk (odd size on purpose)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:90, 0:120]
    arr = np.stack([x * 2, y * 2, (x + y)], axis=-1).astype(np.uint8) + rng.integers(
        0, 20, (90, 120, 3), dtype=np.uint8
    )
    path = tmp_path / "room.jpg"
    Image.fromarray(arr).save(path)
    return path


def randomise_bn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial BN statistics and affine terms, so that outputs are O(0.1-1) and folding matters."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return model.eval()


@pytest.fixture
def fast_model(tmp_path):
    """A small fresh network on disk (a --model file, so that no warning line reaches stderr)."""
    from litedepth.checkpoint import save_model
    from litedepth.models import create_model

    return save_model(create_model("fast-student", input_size=(48, 64)), tmp_path / "fast.safetensors")


def write_image(path, seed=0, size=(40, 56), **save_args):
    """A random RGB image of ``size = (H, W)`` saved at ``path`` (folders made)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path, **save_args)
    return path


def one_line_error(capsys, argv):
    """Run the CLI in-process; it must exit 2 with exactly one line on stderr; return that line."""
    from litedepth.cli import main

    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("litedepth "), err
    return lines[0]


def files_under(folder):
    """The files under ``folder``, litedepth's folder marker left out (`litedepth.outputs.MARKER`)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MARKER)


# Whole files whose tests train, render videos, serve or run the CLI's longer pipelines.
SLOW_FILES = {
    "test_device_check.py",
    "test_docs_commands.py",
    "test_reproduce.py",
    "test_serve.py",
    "test_ddp.py",
    "test_video.py",
    "test_train.py",
    "test_distill.py",
    "test_output_guard.py",
    "test_folder_lock.py",
    "test_imagenet.py",
    "test_gpu.py",
}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
