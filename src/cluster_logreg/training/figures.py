"""What the model learned, as a picture: the decision boundary over 2-D points (with the Bayes line
where the distribution is known), or, in any dimension, the distribution of its score per class."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.contour import QuadContourSet
from matplotlib.figure import Figure
from torch import Tensor

from cluster_logreg.core.population import GaussianPair
from cluster_logreg.training.pictures import bin_edges

# Sized to be read in TensorBoard's image cards, a few hundred pixels wide: few elements, large type.
WIDTH = 4.8  # inches, at matplotlib's 100 dpi
TITLE_SIZE, LABEL_SIZE, TICK_SIZE = 13, 13, 11
TITLE_CHARS = 40  # a title line longer than this at TITLE_SIZE runs past the figure's edges
# Fixed margins in inches (tight_layout finds similar ones by drawing the figure once more, a good part
# of a picture's time): the tick labels and axis names, and above room for a title of two lines on
# every picture, so the axes of a sweep's pictures line up.
LEFT, RIGHT, BOTTOM, TOP = 0.75, 0.15, 0.6, 0.6
AXES_WIDTH = WIDTH - LEFT - RIGHT
AXES_HEIGHT_OF_SCORES = 2.6  # histograms need less height than width
BOX_STD = 4  # the box drawn: both centres +- this many std, where the distribution is known
COLOURS = ("tab:blue", "tab:red")  # of class 0 and class 1
# Behind a label on a line or on the points: the label reads, the line shows a gap.
GAP = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}


def run_title(name: str, epoch: int) -> str:
    """A picture's title: the run's name (what its command line changed; `defaults` where nothing) and
    the epoch, in at most two lines of TITLE_CHARS (a longer name is cut short with ...)."""
    ending = f"epoch {epoch}"
    lines = [""]
    # A job name (`lr=0.1,seed=2`) breaks after its commas; a longer word where it must.
    for word in re.findall(rf"[^, ]{{1,{TITLE_CHARS}}}[, ]*", f"{name or 'defaults'}, "):
        if lines[-1] and len(lines[-1] + word.rstrip()) > TITLE_CHARS:
            lines.append("")
        lines[-1] += word
    if len(lines[-1]) + len(ending) > TITLE_CHARS:
        lines.append("")
    lines[-1] += ending
    if len(lines) > 2:
        kept = lines[1][: TITLE_CHARS - len(ending) - 6]
        kept = kept[: kept.rfind(",")] if "," in kept else kept  # the settings that fit whole
        lines = [lines[0], f"{kept} ..., {ending}"]
    return "\n".join(line.rstrip() for line in lines)


def _box(x: Tensor, population: GaussianPair | None) -> tuple[np.ndarray, np.ndarray]:
    """The square the boundary picture shows (its low and high corners): both centres +- BOX_STD std where
    the distribution is known, so every job drawn from it (a sweep over seeds or lr) shares it; else the
    points +- 1."""
    if population is not None:
        centres = np.array([population.centre0, population.centre1], dtype=float)
        low, high = centres.min(0) - BOX_STD * population.std, centres.max(0) + BOX_STD * population.std
    else:
        low, high = x.min(0).values.double().numpy() - 1, x.max(0).values.double().numpy() + 1
    middle, half = (low + high) / 2, float((high - low).max()) / 2  # square: equal aspect fills the figure
    return middle - half, middle + half


def _label_line(ax: Axes, contours: QuadContourSet, text: str, where: float) -> None:
    """`text` on the line `contours` drew, `where` along it (0 to 1, left to right), in a gap of the line."""
    lines = [v for v in (np.asarray(p.vertices, dtype=float) for p in contours.get_paths()) if len(v) > 1]
    if not lines:  # the model gives one class everywhere in the box: no line
        return
    points = max(lines, key=len)
    if tuple(points[-1] - points[0]) < (0, 0):  # left to right (bottom to top if vertical)
        points = points[::-1]
    (dx, dy), (x, y) = points[-1] - points[0], points[round(where * (len(points) - 1))]
    angle = float(np.degrees(np.arctan2(dy, dx)))
    ax.text(
        float(x),
        float(y),
        text,
        rotation=angle,
        rotation_mode="anchor",
        ha="center",
        va="center",
        fontsize=LABEL_SIZE,
        bbox=GAP,
        transform_rotates_text=True,
    )


def _name_the_classes(
    ax: Axes, x: Tensor, y: Tensor, low: np.ndarray, high: np.ndarray, class_names: Sequence[str]
) -> None:
    """Each class's name in the corner of the box farthest towards its side, where its points rarely reach."""
    toward_class1 = (x[y == 1].double().mean(0) - x[y == 0].double().mean(0)).numpy()
    corners = [(i, j) for i in (0, 1) for j in (0, 1)]  # (left or right, bottom or top)
    reach = [toward_class1 @ np.array([(low[0], high[0])[i], (low[1], high[1])[j]]) for i, j in corners]
    if not (np.isfinite(reach).all() and min(reach) < max(reach)):  # a class is absent from the points
        return
    for label, (i, j) in enumerate((corners[int(np.argmin(reach))], corners[int(np.argmax(reach))])):
        ax.text(
            0.03 + 0.94 * i,
            0.03 + 0.94 * j,
            class_names[label],
            transform=ax.transAxes,
            ha=("left", "right")[i],
            va=("bottom", "top")[j],
            color=COLOURS[label],
            fontsize=LABEL_SIZE,
            fontweight="bold",
            bbox=GAP,
        )


def _figure(axes_height: float) -> tuple[Figure, Axes]:
    """A figure WIDTH wide around axes of `axes_height` inches, with the fixed margins."""
    height = axes_height + BOTTOM + TOP
    fig = Figure(figsize=(WIDTH, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=LEFT / WIDTH, right=1 - RIGHT / WIDTH, bottom=BOTTOM / height, top=1 - TOP / height)
    return fig, fig.add_subplot()


def _label_axes(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=TITLE_SIZE)
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE)
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE)
    ax.tick_params(labelsize=TICK_SIZE)
    ax.locator_params(nbins=5)


def decision_boundary_figure(
    x: Tensor,
    y: Tensor,
    proba: Callable[[Tensor], Tensor],
    population: GaussianPair | None,
    title: str,
    feature_names: Sequence[str] = ("x0", "x1"),
    class_names: Sequence[str] = ("class 0", "class 1"),
) -> Figure:
    """2-D points `x` with labels `y`; `proba` maps (N, 2) points to P(class 1); `population` they come
    from, where it is known. The model's 0.5 line and the Bayes-optimal one are labelled on the lines,
    the classes in the corners their sides point to: no legend, no colorbar."""
    x, y = x.cpu(), y.cpu()
    low, high = _box(x, population)
    g0, g1 = np.meshgrid(np.linspace(low[0], high[0], 150), np.linspace(low[1], high[1], 150), indexing="xy")
    grid_points = torch.from_numpy(np.stack([g0.ravel(), g1.ravel()], 1)).to(x.dtype)
    grid = proba(grid_points).reshape(g0.shape).cpu().double().numpy()

    fig, ax = _figure(AXES_WIDTH)  # square axes: equal aspect fills them
    extent = (float(low[0]), float(high[0]), float(low[1]), float(high[1]))
    ax.imshow(grid, origin="lower", extent=extent, cmap="RdBu_r", vmin=0, vmax=1, alpha=0.35)
    for label, colour in enumerate(COLOURS):
        points = x[y == label]
        ax.scatter(points[:, 0], points[:, 1], s=9, color=colour, edgecolors="none", alpha=0.7)
    model = ax.contour(g0, g1, grid, levels=[0.5], colors="black", linewidths=2.5)
    _label_line(ax, model, "model", 0.2)
    if population is not None:
        # Equal, spherical clusters: the best boundary is the perpendicular bisector of the two centres.
        c0, c1 = np.array(population.centre0), np.array(population.centre1)
        middle, direction = (c0 + c1) / 2, c1 - c0
        bayes_score = (g0 - middle[0]) * direction[0] + (g1 - middle[1]) * direction[1]
        bayes = ax.contour(g0, g1, bayes_score, levels=[0], colors="black", linewidths=2, linestyles="--")
        _label_line(ax, bayes, "Bayes", 0.8)
    _name_the_classes(ax, x, y, low, high, class_names)
    ax.set(xlim=extent[:2], ylim=extent[2:], aspect="equal")
    _label_axes(ax, title, feature_names[0], feature_names[1])
    return fig


def score_figure(scores: Tensor, y: Tensor, class_names: Sequence[str], title: str) -> Figure:
    """Histograms of the model's score w.x + c (the logit) over the points of each class, and the
    boundary at 0: how well the classes separate, in any number of dimensions. Each class is named
    above its histogram, the boundary on its line: no legend."""
    fig, ax = _figure(AXES_HEIGHT_OF_SCORES)
    bins = bin_edges(scores.double().numpy()).tolist()
    tallest = 0.0
    for label, colour in enumerate(COLOURS):
        of_class = scores[y == label].double().numpy()
        if not len(of_class):  # a tiny split may lack a class
            continue
        counts, edges, _ = ax.hist(of_class, bins=bins, color=colour, alpha=0.6)
        peak = int(np.argmax(counts))
        ax.text(
            float(edges[peak] + edges[peak + 1]) / 2,
            float(counts[peak]),
            class_names[label],
            color=colour,
            ha="center",
            va="bottom",
            fontsize=LABEL_SIZE,
            fontweight="bold",
        )
        tallest = max(tallest, float(counts[peak]))
    ax.axvline(0, color="black", linewidth=2.5)
    ax.set_ylim(0, tallest * 1.2 or 1)  # room above the peaks for the class names
    ax.text(0, tallest * 0.5 or 0.5, "boundary", rotation=90, ha="center", va="center", fontsize=TICK_SIZE, bbox=GAP)
    _label_axes(ax, title, "model's score w.x + c", "training points")
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
