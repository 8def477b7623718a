"""Precise BatchNorm: the running statistics of a trained network recomputed on clean training images.

>>> precise_batchnorm(model, trainset, clean_transform(cfg, *stats_of(model)), images=1000)   # -> images used
"""

from __future__ import annotations

import torch

from .mixing import TrainingSet


class CleanImages(torch.utils.data.Dataset):
    """Items ``indices`` of a `TrainingSet` as un-augmented ``(3, H, W)`` images (no depth, no teacher)."""

    def __init__(self, trainset: TrainingSet, transform, indices: list[int]) -> None:
        self.trainset, self.transform, self.indices = trainset, transform, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> torch.Tensor:
        image = self.trainset.raw(*self.trainset.locate(self.indices[i]))["image"]
        return self.transform({"image": image, "_depth_keys": []}, None)["image"]


def precise_batchnorm(
    model,
    trainset: TrainingSet,
    transform,
    images: int,
    seed: int = 0,
    batch_size: int = 16,
    workers: int = 0,
    device="cpu",
) -> int:
    """Replace every BatchNorm's running statistics by their average over ``images`` training images.

    During training they are a moving average over the last few augmented batches, which leaves
    the output scale of a network a few percent off, differently for each seed and data order.
    Statistics of un-augmented images match what the network sees at inference ("precise BN").
    The images are a random subset drawn from ``seed`` (all, where there are fewer); returns how
    many were used.
    """
    from torch.optim.swa_utils import update_bn

    n = len(trainset)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).tolist()[: min(images, n)]
    loader = torch.utils.data.DataLoader(
        CleanImages(trainset, transform, sorted(order)), batch_size=batch_size, num_workers=workers
    )
    with torch.no_grad():
        update_bn(loader, model, device=torch.device(device))
    return len(order)
