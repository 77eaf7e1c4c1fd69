"""What the model learned, as a picture: the decision boundary over 2-D points (with the Bayes line
where the distribution is known), or, in any dimension, the distribution of its score per class."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch import Tensor

from cluster_logreg.core.population import GaussianPair

# Fixed margins that fit these figures' labels: tight_layout finds the same by drawing the figure
# once more, a good part of the time a picture takes (README, "Speed").
MARGINS = {"left": 0.1, "right": 0.98, "bottom": 0.1, "top": 0.93}


def decision_boundary_figure(
    x: Tensor, y: Tensor, proba: Callable[[Tensor], Tensor], population: GaussianPair | None, title: str
) -> Figure:
    """2-D points `x` with labels `y`; `proba` maps (N, 2) points to P(class 1); `population` they come
    from, where it is known."""
    x, y = x.cpu(), y.cpu()
    low, high = x.min(0).values - 1, x.max(0).values + 1
    g0, g1 = torch.meshgrid(torch.linspace(low[0], high[0], 150), torch.linspace(low[1], high[1], 150), indexing="xy")
    grid = proba(torch.stack([g0.flatten(), g1.flatten()], 1)).reshape(g0.shape).cpu().numpy()

    fig = Figure(figsize=(6.4, 5.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    extent = (float(low[0]), float(high[0]), float(low[1]), float(high[1]))
    shade = ax.imshow(grid, origin="lower", extent=extent, cmap="RdBu_r", vmin=0, vmax=1, alpha=0.45, aspect="auto")
    fig.colorbar(shade, ax=ax, label="model's P(class 1)")
    ax.contour(g0.numpy(), g1.numpy(), grid, levels=[0.5], colors="black", linewidths=1.5)
    for label, colour in ((0, "tab:blue"), (1, "tab:red")):
        points = x[y == label]
        ax.scatter(points[:, 0], points[:, 1], s=5, color=colour, edgecolors="none", label=f"class {label}")
    handles, labels = ax.get_legend_handles_labels()
    handles, labels = [*handles, Line2D([], [], color="black")], [*labels, "model: P = 0.5"]
    if population is not None:
        # Equal, spherical clusters: the best boundary is the perpendicular bisector of the two centres.
        c0, c1 = np.array(population.centre0), np.array(population.centre1)
        middle, direction = (c0 + c1) / 2, c1 - c0
        xs = np.array(extent[:2])
        ax.plot(xs, middle[1] - direction[0] / direction[1] * (xs - middle[0]), "k--", linewidth=1.2)
        handles, labels = [*handles, Line2D([], [], color="black", linestyle="--")], [*labels, "Bayes-optimal boundary"]
    ax.set(xlim=extent[:2], ylim=extent[2:], xlabel="x1", ylabel="x2", title=title)
    ax.legend(handles, labels, loc="upper left", fontsize=8)
    fig.subplots_adjust(**MARGINS)
    return fig


def score_figure(scores: Tensor, y: Tensor, target: str, classes: list[str], title: str) -> Figure:
    """Histograms of the model's score w.x + c (the logit) over the points of each class, and the
    boundary at 0: how well the classes separate, in any number of dimensions."""
    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bins = np.linspace(float(scores.min()), float(scores.max()), 41).tolist()
    for label, colour in ((0, "tab:blue"), (1, "tab:red")):
        ax.hist(scores[y == label].numpy(), bins=bins, color=colour, alpha=0.55, label=f"{target} = {classes[label]}")
    ax.axvline(0, color="black", linewidth=1.5, label=f"model: P({classes[1]}) = 0.5")
    xlabel = f"model's score w.x + c (the logit of P({target} = {classes[1]}))"
    ax.set(xlabel=xlabel, ylabel="points of the training split", title=title)
    ax.legend(loc="upper right", fontsize=8)
    fig.subplots_adjust(**(MARGINS | {"bottom": 0.13}))  # a shorter figure: its x label needs a larger share
    return fig


def png_bytes(rgb: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 picture as PNG, encoded once for the file and for TensorBoard. zlib's level 1:
    a fraction of the default's time for a slightly larger file."""
    from PIL import Image  # matplotlib's own dependency

    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def as_rgb(fig: Figure) -> np.ndarray:
    """The rendered figure as an (H, W, 3) uint8 array, for TensorBoard's add_image."""
    canvas = fig.canvas
    if not isinstance(canvas, FigureCanvasAgg):  # ours have one; another backend's has no buffer_rgba
        canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgb: np.ndarray = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    return rgb
