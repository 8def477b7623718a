import numpy as np
import pytest
import torch
from PIL import Image


# One thread: on a shared 2-core machine, two intra-op threads per test process can make small
# forward passes hundreds of times slower when the other core is busy.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def rgb_image(tmp_path):
    """A 90 x 120 RGB test image on disk (odd size on purpose)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:90, 0:120]
    arr = np.stack([x * 2, y * 2, (x + y)], axis=-1).astype(np.uint8) + rng.integers(0, 20, (90, 120, 3), dtype=np.uint8)
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
