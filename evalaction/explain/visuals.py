"""Pictures for the error report: heatmap overlays, feature-contribution bars, thumbnail galleries.

matplotlib is imported inside each function with the Agg backend (no display, no GUI toolkit), and every
figure is closed after saving, so drawing many of them does not grow memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

TOP_FEATURES = 10
GALLERY_MAX = 16
# one convention for every attribution picture, and the report's caption says it: red raises the explained
# class's probability, blue lowers it (matplotlib's "bwr" at its ends)
RAISES = "#d62728"
LOWERS = "#1f4fd6"


@dataclass
class Panel:
    """One attribution map (or bar set) with its title."""

    title: str
    values: np.ndarray  # sample_shape
    signed: bool  # False for magnitudes (Saliency)


def _figure(**kwargs: Any) -> Any:
    """A figure on an Agg canvas, without pyplot: its import and backend machinery cost more than drawing one
    small figure (issue #16), and nothing here is shown on screen."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def as_image(row: np.ndarray, sample_shape: Sequence[int]) -> np.ndarray:
    """A raw feature row as something imshow draws: (H, W) grey or (H, W, 3) colour, scaled to [0, 1]."""
    import numpy as np

    img = np.asarray(row, dtype=np.float64).reshape(tuple(sample_shape))
    if img.ndim == 3:
        img = img[0] if img.shape[0] == 1 else np.moveaxis(img[:3], 0, -1)
    lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def as_map(values: np.ndarray) -> np.ndarray:
    """An attribution over (C, H, W) as one (H, W) map: summed over channels."""
    return values.sum(axis=0) if values.ndim == 3 else values


def _rgb(img: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]


def _upscale(img: np.ndarray, min_side: int = 96) -> np.ndarray:
    """Nearest-neighbour enlargement of small inputs (8x8 digits) so a thumbnail is legible; pixels stay sharp."""
    import numpy as np

    factor = max(1, -(-min_side // max(img.shape[0], img.shape[1])))
    return np.repeat(np.repeat(img, factor, axis=0), factor, axis=1) if factor > 1 else img


def overlay(image: np.ndarray, amap: np.ndarray, *, signed: bool, scale: float) -> np.ndarray:
    """The attribution map blended over the image, opacity growing with |attribution|, so pixels that do not
    matter show the image itself (signed maps: red raises the target probability, blue lowers it)."""
    import matplotlib
    import numpy as np

    norm = np.clip(amap / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(amap)
    cmap = matplotlib.colormaps["bwr" if signed else "Reds"]
    colours = cmap((norm + 1.0) / 2.0 if signed else norm)[..., :3]
    alpha = 0.8 * np.abs(norm)[..., None]
    return _rgb(image) * (1.0 - alpha) + colours * alpha


def grid_figure(
    path: Path, *, tiles: Sequence[Sequence[np.ndarray]], captions: Sequence[Sequence[str]], title: str
) -> Path:
    """Equal-size RGB tiles in rows with a caption over each, drawn as one image in one axes: a single
    imshow and a few text labels, far cheaper than one matplotlib axes per tile."""
    import numpy as np

    th, tw = tiles[0][0].shape[:2]
    lines = max((c.count("\n") + 1 for row in captions for c in row), default=1)
    gap, head, top = 8, 6 + 9 * lines, 22  # pixels between tiles, caption band over each row, title band
    n_rows, n_cols = len(tiles), max(len(r) for r in tiles)
    height = top + n_rows * (head + th) + gap
    width = max(n_cols * (tw + gap) + gap, 6 * len(title) + 2 * gap)  # ~6 px per 8-pt character
    canvas = np.ones((height, width, 3))
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            y, x = top + r * (head + th) + head, gap + c * (tw + gap)
            canvas[y : y + th, x : x + tw] = np.clip(tile, 0.0, 1.0)
    dpi = 100
    fig = _figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()
    ax.text(gap, top - 6, title, fontsize=8, va="bottom", ha="left")
    for r, row_caps in enumerate(captions):
        for c, cap in enumerate(row_caps):
            y, x = top + r * (head + th) + head - 2, gap + c * (tw + gap) + tw / 2
            ax.text(x, y, cap, fontsize=6, va="bottom", ha="center", linespacing=1.0)
    fig.savefig(path, dpi=dpi)
    return path


def colour_bar_tile(shape: tuple[int, int], *, signed: bool) -> np.ndarray:
    """A tile holding the colour scale: top = +max (red, raises), middle = 0, bottom = -max (blue, lowers);
    unsigned maps run from 0 (bottom, white) to max (top, red)."""
    import matplotlib
    import numpy as np

    h, w = shape
    ramp = np.linspace(1.0, -1.0 if signed else 0.0, h)
    cmap = matplotlib.colormaps["bwr" if signed else "Reds"]
    colours = cmap((ramp + 1.0) / 2.0 if signed else ramp)[..., :3]
    tile = np.ones((h, w, 3))
    lo, hi = w // 3, w - w // 3
    tile[:, lo:hi] = colours[:, None, :]
    return tile


def heatmap_figure(path: Path, *, image: np.ndarray, rows: Sequence[Sequence[Panel]], title: str) -> Path:
    """Input image, then each panel's map overlaid on it, and the colour scale last; one row per method.

    Each map is scaled to its own largest |attribution|, written in its caption: on one shared scale a model
    whose attributions are ten times smaller looked empty. Compare magnitudes by the captions."""
    import numpy as np

    base = _upscale(image, min_side=128)
    tiles: list[list[np.ndarray]] = []
    captions: list[list[str]] = []
    for panels in rows:
        maps = [as_map(p.values) for p in panels]
        factor = base.shape[0] // image.shape[0]
        row_tiles = [_rgb(base)]
        row_caps = ["input"]
        for p, m in zip(panels, maps, strict=True):
            scale = float(np.abs(m).max())
            big = np.repeat(np.repeat(m, factor, axis=0), factor, axis=1)
            row_tiles.append(overlay(base, big, signed=p.signed, scale=scale))
            row_caps.append(f"{p.title}\n{'±' if p.signed else 'max '}{scale:.2g}")
        signed = any(p.signed for p in panels)
        row_tiles.append(colour_bar_tile(base.shape[:2], signed=signed))
        row_caps.append("red +max: raises\nblue -max: lowers" if signed else "red: |attribution|")
        tiles.append(row_tiles)
        captions.append(row_caps)
    return grid_figure(path, tiles=tiles, captions=captions, title=title)


def feature_bars_figure(
    path: Path,
    *,
    feature_names: Sequence[str],
    rows: Sequence[Sequence[Panel]],
    title: str,
    legend: str = "red raises the class's probability, blue lowers it",
) -> Path:
    """Horizontal bars of the features with the largest |attribution| in any panel of a row, in one order for
    all panels of that row, so the names are written once (red: raises the target probability, blue: lowers
    it, as in the heatmaps). Margins are set from the longest name rather than by tight_layout, which costs a second draw."""
    import numpy as np

    n_cols = max(len(r) for r in rows)
    shown = [
        np.argsort(-np.abs(np.stack([p.values.reshape(-1) for p in panels])).max(axis=0), kind="stable")[
            :TOP_FEATURES
        ][::-1]
        for panels in rows
    ]
    label_in = 0.06 * max(len(feature_names[i]) for order in shown for i in order) + 0.2  # ~7-pt characters
    width, row_h = label_in + 2.6 * n_cols, 2.4
    height = row_h * len(rows) + 0.65
    fig = _figure(figsize=(width, height), dpi=80)
    axes = fig.subplots(len(rows), n_cols, squeeze=False, sharey="row")
    fig.subplots_adjust(
        left=label_in / width, right=0.98, top=1 - 0.6 / height, bottom=0.3 / height, wspace=0.08, hspace=0.45
    )
    for r, panels in enumerate(rows):
        order = shown[r]
        stacked = np.stack([p.values.reshape(-1) for p in panels])[:, order]
        scale = float(np.abs(stacked).max()) or 1.0
        for c, panel in enumerate(panels):
            ax = axes[r][c]
            vals = stacked[c]
            ax.barh(range(len(order)), vals, color=[RAISES if v >= 0 else LOWERS for v in vals])
            if c == 0:  # the row's axes share their y axis (ticks and labels): setting them once is enough
                ax.set_yticks(range(len(order)), [feature_names[i] for i in order], fontsize=7)
            ax.set_xlim(-1.05 * scale, 1.05 * scale)
            ax.axvline(0, color="#6e7781", linewidth=0.8)
            ax.tick_params(axis="x", labelsize=6)
            ax.set_title(panel.title.replace("\n", ", "), fontsize=7, y=1.0)  # y fixed: no layout pass to place it
        for c in range(len(panels), n_cols):
            axes[r][c].set_visible(False)
    # two lines: with one or two panels a single line ran past the figure's edges
    fig.suptitle(f"{title}\n{legend}", fontsize=8)
    fig.savefig(path, dpi=80)
    return path


def fit_caption_line(text: str, width_px: int, px_per_char: float = 4.0) -> str:
    """One caption line shortened in the middle to fit a tile (`subject01…glasses.png`): the start and the end of
    an id both tell samples apart, the end alone (`1_glasses.png`) often does not."""
    limit = max(5, int(width_px / px_per_char))
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def gallery_figure(path: Path, *, images: Sequence[np.ndarray], captions: Sequence[str], title: str) -> Path:
    """Up to 16 thumbnails, 8 a row, each with its caption (id, label -> prediction, probability); each caption
    line is shortened in the middle to its tile's width."""
    tiles = [_rgb(_upscale(img)) for img in list(images)[:GALLERY_MAX]]
    width = tiles[0].shape[1] if tiles else 96
    caps = [
        "\n".join(fit_caption_line(line, width) for line in c.split("\n")) for c in list(captions)[:GALLERY_MAX]
    ]
    per_row = 8
    return grid_figure(
        path,
        tiles=[tiles[i : i + per_row] for i in range(0, len(tiles), per_row)],
        captions=[caps[i : i + per_row] for i in range(0, len(caps), per_row)],
        title=title,
    )
