"""Images without depth: the auxiliary set a teacher labels for distillation."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import LitedepthError
from ..fileio import IMAGE_EXTENSIONS, looks_like_depth_map, read_rgb
from .base import SeededDataset, Transform, read_path_list


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted), leaving out depth maps.

    A depth map is a ``*_depth.*`` file or a single-channel 16-bit or float image
    (`fileio.looks_like_depth_map`, from the header), such as the ``0.png`` beside an RGB-D
    ``0.jpg``; read as a photo it would be nearly all white.
    """
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.suffix.lower() in IMAGE_EXTENSIONS
        and not p.stem.lower().endswith("_depth")
        and not looks_like_depth_map(p)
    ]


class UnlabeledImages(SeededDataset):
    """RGB images with no ground truth: raw samples are ``{"image": PIL RGB, "name": str}``.

    Images are decoded by `fileio.read_rgb`: EXIF orientation applied, transparency composited
    onto white; a depth map or an unsupported mode named in a list is refused with one line
    when it is loaded.

    Args:
        source: a folder (searched recursively; depth maps left out, see `list_images`) or a text
            file listing one image path per line (relative paths against the list's folder;
            blank lines and ``#`` comments ignored).
        transform, seed: see `SeededDataset`.
    """

    def __init__(self, source: str | os.PathLike, transform: Transform | None = None, seed: int = 0) -> None:
        super().__init__(transform, seed)
        self.root = Path(source)
        if self.root.is_dir():
            self.paths = list_images(self.root)
            base = self.root
        elif self.root.is_file():
            self.paths = read_path_list(self.root)
            base = self.root.parent
        else:
            raise LitedepthError(f"{self.root}: no such file or folder")
        if not self.paths:
            raise LitedepthError(f"{self.root}: no images found")
        self.names = []
        for p in self.paths:
            try:
                rel = p.relative_to(base)
            except ValueError:
                rel = Path(p.name)
            self.names.append(str(rel.with_suffix("")).replace(os.sep, "/"))

    def __len__(self) -> int:
        return len(self.paths)

    def source(self, index: int) -> str:
        return str(self.paths[index])

    def image_file(self, index: int) -> tuple[str, str]:
        return str(self.paths[index]), ""

    def load(self, index: int) -> dict:
        return {"image": read_rgb(self.paths[index]), "name": self.names[index]}
