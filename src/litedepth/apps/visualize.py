"""Colour maps of depth, for people to look at (matplotlib colormaps)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import LitedepthError


def check_cmap(name: str) -> str:
    """``name`` if matplotlib has a colormap of that name, else a one-line `LitedepthError` with the closest names."""
    import difflib

    from matplotlib import colormaps

    if name in colormaps:
        return name
    close = difflib.get_close_matches(name, list(colormaps), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else "e.g. magma_r, viridis, turbo, gray"
    raise LitedepthError(f"--cmap {name!r}: not a matplotlib colormap; {hint}")


def colorize(
    depth_m: np.ndarray, vmin: float | None = None, vmax: float | None = None, cmap: str = "magma_r"
) -> np.ndarray:
    """``H x W`` metres -> ``H x W x 3`` uint8 through a matplotlib colormap (near = bright by default)."""
    from matplotlib import colormaps

    d = np.asarray(depth_m, dtype=np.float32)
    finite = d[np.isfinite(d)]
    lo = float(np.percentile(finite, 2)) if vmin is None and finite.size else (vmin or 0.0)
    hi = float(np.percentile(finite, 98)) if vmax is None and finite.size else (vmax or 1.0)
    norm = np.clip((d - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    return (colormaps[check_cmap(cmap)](norm)[..., :3] * 255).astype(np.uint8)


def side_by_side(image: Image.Image, depth_m: np.ndarray, colorbar: bool = False, cmap: str = "magma_r") -> Image.Image:
    """The RGB input and its colourised depth next to each other, optionally with a colour bar in metres."""
    check_cmap(cmap)
    rgb = np.asarray(image.convert("RGB"))
    if not colorbar:
        return Image.fromarray(np.concatenate([rgb, colorize(depth_m, cmap=cmap)], axis=1))
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w = depth_m.shape
    fig, axes = plt.subplots(1, 2, figsize=(2 * w / 100 + 1.2, h / 100 + 0.4), dpi=100, gridspec_kw={"wspace": 0.02})
    axes[0].imshow(rgb)
    finite = depth_m[np.isfinite(depth_m)]
    shown = axes[1].imshow(depth_m, cmap=cmap, vmin=np.percentile(finite, 2), vmax=np.percentile(finite, 98))
    for ax in axes:
        ax.axis("off")
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    # a bar as tall as the depth map, of fixed width: a fraction of the axes shrinks it on portrait photos
    bar = make_axes_locatable(axes[1]).append_axes("right", size=0.18, pad=0.08)
    fig.colorbar(shown, cax=bar, label="depth (m)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")
