"""Contact sheet of the synthetic scene scales: RGB over coloured depth, one row pair per scale.

Usage: python scripts/make_contact_sheet.py [OUT.png] [--n 6] [--size 240x320] [--seed 0]
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from litedepth.synth.dataset import parse_size, render_scene  # noqa: E402
from litedepth.synth.scene import SCALES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="docs/synth_contact_sheet.png")
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--size", default="240x320")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dpi", type=int, default=60)
    args = ap.parse_args()
    size = parse_size(args.size)
    scales = list(SCALES)
    fig, axes = plt.subplots(2 * len(scales), args.n, figsize=(2.0 * args.n, 3.1 * len(scales)), squeeze=False)
    for r, name in enumerate(scales):
        vmax = {"scannet": 8.0, "nyu": 8.0}.get(name, 20.0)
        for c in range(args.n):
            rgb, depth = render_scene(args.seed, c, size, name)
            axes[2 * r, c].imshow(rgb)
            im = axes[2 * r + 1, c].imshow(depth, cmap="turbo", vmin=0, vmax=vmax)
            for ax in (axes[2 * r, c], axes[2 * r + 1, c]):
                ax.set_xticks([])
                ax.set_yticks([])
        axes[2 * r, 0].set_ylabel(name, fontsize=12)
        axes[2 * r + 1, 0].set_ylabel(f"depth 0-{vmax:g} m", fontsize=9)
        fig.colorbar(im, ax=list(axes[2 * r + 1, :]), fraction=0.01, pad=0.005)
    fig.savefig(args.out, dpi=args.dpi, bbox_inches="tight")
    print(args.out)


if __name__ == "__main__":
    main()
