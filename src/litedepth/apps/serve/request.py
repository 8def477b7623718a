"""One request: a photo's depth, the view the demo shows and the downloads, written into a folder."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .uploads import read_upload

MAX_SIDE = 2048  # longer side (px) a photo is scaled down to before prediction
CLOUD_POINTS = 40_000  # points in the 3-D view (the PLY download keeps every pixel)


def _fit(image, max_side: int):
    """``image`` scaled down to ``max_side`` on its longer side, and the note the latency line gets."""
    from PIL import Image

    if max(image.size) <= max_side:
        return image, ""
    scale = max_side / max(image.size)
    original = image.size
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)
    return image, f" (scaled down from {original[0]}x{original[1]})"


def write_downloads(out: Path, depth: np.ndarray, image, camera) -> tuple[list[str], str]:
    """The request's files in ``out``, each written atomically: ``([PNG16, NPY, PLY], GLB for the 3-D view)``."""
    from ...camera import back_project, write_glb_points, write_ply
    from ...fileio import save_npy, write_png16_mm

    out.mkdir(parents=True, exist_ok=True)
    png, npy, ply = out / "depth.png", out / "depth.npy", out / "points.ply"
    write_png16_mm(png, depth)
    save_npy(npy, depth)
    points, colors = back_project(depth, np.asarray(image), camera)
    write_ply(ply, points, colors)
    keep = (
        np.linspace(0, len(points) - 1, min(len(points), CLOUD_POINTS)).astype(int) if len(points) else np.zeros(0, int)
    )
    cloud = write_glb_points(out / "points.glb", points[keep], colors[keep])
    return [str(png), str(npy), str(ply)], str(cloud)


def estimate(
    model, photo, max_side: int = MAX_SIDE, focal: float | None = None, cmap: str = "magma_r", *, out: str | Path
) -> dict:
    """Everything the demo shows for one photo: ``{"view", "depth", "files", "cloud", "text"}``.

    ``photo``: a PIL image or a file path (`read_upload`). The downloads are written into the
    folder ``out``, which the caller owns (a `Session` keeps those of its last few requests).
    """
    import torch

    from ...camera import for_photo
    from ...inference import predict
    from ..visualize import side_by_side

    image, note = _fit(read_upload(photo), max_side)
    start = time.perf_counter()
    with torch.inference_mode():
        depth = predict(model, image)
    latency_ms = (time.perf_counter() - start) * 1000
    depth, camera = for_photo(depth, model.camera, float(focal) if focal else None)
    files, cloud = write_downloads(Path(out), depth, image, camera)
    valid = depth[np.isfinite(depth) & (depth > 0)]
    text = (
        f"{getattr(model, 'arch', 'model')}: {latency_ms:.0f} ms for a {image.width}x{image.height} photo{note}; "
        f"depth {valid.min():.2f}-{valid.max():.2f} m"
        if valid.size
        else "no valid depth"
    )
    return {
        "view": side_by_side(image, depth, colorbar=True, cmap=cmap),
        "depth": depth,
        "files": files,
        "cloud": cloud,
        "text": text,
    }
