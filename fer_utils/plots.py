"""Every figure of the workbook; the method modules return arrays and this module draws them.

Each figure is drawn at the size it prints: at most ``WIDTH_IN`` wide (the A4 text width is
``layout.TEXT_WIDTH_IN``), no text smaller than ``layout.MIN_FONT_PT``. The report prints a figure at its size
in inches (``report._scale_figures``), so the sizes set here are the sizes on paper. In a notebook a figure shows
as a PNG (``png``) that records its kind, its width in inches and its smallest font, which the report's layout
check (``fer_utils.layout``) reads.
"""

import base64
import functools
import io
import textwrap

import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.text import Text

from fer_utils import CLASS_NAMES, layout, narrative

#: Pixels per inch of the PNGs; the report prints them at their size in inches.
DPI = 200
#: Width of a full-width figure in inches, inside the A4 text width (``layout.TEXT_WIDTH_IN``, 7.17 in).
WIDTH_IN = 7.0
#: Tallest figure, in inches: within the A4 text height.
MAX_HEIGHT_IN = 9.0
#: Font sizes in points, given to every text explicitly (no ``rc_context``: leaving one would also undo the
#: inline backend's switch to interactive mode made while the first figure is created, and later figures of the
#: notebook would not show). The smallest, ``PANEL_PT``, stays above ``layout.MIN_FONT_PT``.
PANEL_PT, TICK_PT, LABEL_PT, TITLE_PT, SUPTITLE_PT = 7.5, 7.5, 8.0, 8.5, 9.0


class PrintFigure(matplotlib.figure.Figure):
    """A matplotlib Figure that knows which function drew it and shows in a notebook as ``png(figure)``.

    Attributes:
        kind: the name of the ``plots`` function that drew it ("confusion_heatmap", ...), recorded in its PNG.
    """

    kind = ""

    def _ipython_display_(self):
        """Publish the figure as a PNG with its metadata, shown in Jupyter at its printed width (96 px per inch)."""
        from IPython.display import publish_display_data

        publish_display_data({"image/png": base64.b64encode(png(self)).decode("ascii"), "text/plain": repr(self)},
                             metadata={"image/png": {"width": round(self.get_figwidth() * 96)}})


def _drawn(kind):
    """Decorator: the figure function's figure gets ``TICK_PT`` tick labels (made at drawing time, so their size is
    fixed here) and is marked with ``kind``."""
    def decorate(function):
        @functools.wraps(function)
        def draw(*args, **kwargs):
            figure = function(*args, **kwargs)
            for axis in figure.axes:
                axis.tick_params(labelsize=TICK_PT)
            figure.kind = kind
            return figure
        return draw
    return decorate


def _subplots(width, height, rows=1, columns=1, **options):
    """``plt.subplots`` of a ``PrintFigure`` of ``width`` x ``height`` inches with constrained layout."""
    return plt.subplots(rows, columns, figsize=(width, height), FigureClass=PrintFigure, layout="constrained",
                        **options)


def visible_texts(artist):
    """The text artists a drawing of ``artist`` shows: visible, non-empty, not inside a hidden parent or an
    axis switched off (``axis("off")``).

    Args:
        artist: a Figure or any artist, drawn at least once so that its tick labels exist.
    Returns:
        A list of ``matplotlib.text.Text``.
    """
    if not artist.get_visible():
        return []
    found = [artist] if isinstance(artist, Text) and artist.get_text().strip() else []
    children = artist.get_children()
    if isinstance(artist, Axes) and not artist.axison:
        children = [child for child in children if not isinstance(child, Axis)]
    return found + [text for child in children for text in visible_texts(child)]


def smallest_font_pt(figure):
    """The smallest font size in points of any visible text of ``figure`` (None for a figure without text).

    The figure is laid out first (``draw_without_rendering``), so its tick labels are the ones it prints.
    """
    figure.draw_without_rendering()
    sizes = [text.get_fontsize() for text in visible_texts(figure)]
    return min(sizes) if sizes else None


def png(figure):
    """The figure as PNG bytes at ``DPI``, with text chunks for the layout check.

    The chunks (``layout.KIND_KEY``, ``WIDTH_KEY``, ``FONT_KEY``): the figure's kind (``PrintFigure.kind``,
    empty for other figures), its width in inches and its smallest font in points ("none" without text). The PNG's
    pHYs chunk holds ``DPI``.

    Args:
        figure: a matplotlib Figure.
    Returns:
        The PNG file's bytes.
    """
    smallest = smallest_font_pt(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white", metadata={
        layout.KIND_KEY: getattr(figure, "kind", ""), layout.WIDTH_KEY: f"{figure.get_figwidth():.3f}",
        layout.FONT_KEY: "none" if smallest is None else f"{smallest:.2f}"})
    return buffer.getvalue()


@_drawn("training_curves")
def training_curves(history, title=""):
    """Loss and accuracy per epoch, train and validation, side by side.

    Args:
        history: a DataFrame with columns epoch, loss, accuracy, val_loss, val_accuracy.
        title: a suptitle.
    Returns:
        The matplotlib Figure (``WIDTH_IN`` x 1.6 in).
    """
    figure, axes = _subplots(WIDTH_IN, 1.6, 1, 2)
    epochs = history["epoch"] + 1
    for axis, metric in zip(axes, ("loss", "accuracy")):
        axis.plot(epochs, history[metric], marker="o", markersize=3, label="train")
        axis.plot(epochs, history[f"val_{metric}"], marker="o", markersize=3, label="validation")
        axis.set_xlabel("epoch", fontsize=LABEL_PT)
        axis.set_ylabel(metric, fontsize=LABEL_PT)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=PANEL_PT)
    if title:
        figure.suptitle(title, fontsize=SUPTITLE_PT)
    return figure


@_drawn(layout.CONFUSION_KIND)
def confusion_heatmap(matrix, title="Confusion matrix (rows: true class, normalised)"):
    """Seaborn heatmap of a row-normalised confusion matrix, each cell annotated with share and count.

    Args:
        matrix: (7, 7) counts, rows = true class.
    Returns:
        The matplotlib Figure (5.6 x 3.9 in: 78 % of the A4 text width, counts in ``PANEL_PT``).
    """
    import seaborn as sns

    matrix = np.asarray(matrix)
    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, totals, out=np.zeros(matrix.shape, float), where=totals > 0)
    labels = np.array([[f"{share:.2f}\n({count:,})" for share, count in zip(row_share, row)]
                       for row_share, row in zip(normalised, matrix)])
    figure, axis = _subplots(5.6, 3.9)
    sns.heatmap(normalised, annot=labels, fmt="", cmap="Blues", vmin=0, vmax=1, ax=axis,
                xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES, annot_kws={"fontsize": PANEL_PT})
    axis.collections[0].colorbar.set_label("share of the true class", fontsize=LABEL_PT)
    axis.tick_params(axis="x", rotation=0)
    axis.tick_params(axis="y", rotation=0)
    axis.set_xlabel("predicted class", fontsize=LABEL_PT)
    axis.set_ylabel("true class", fontsize=LABEL_PT)
    axis.set_title(title, fontsize=TITLE_PT)
    return figure


@_drawn("image_grid")
def image_grid(images, titles=None, columns=8, cmap="gray", size=0.85, vmin=None, vmax=None, suptitle=""):
    """A grid of 48x48 images (faces, maps or filter images) with optional titles.

    Args:
        images: (N, 48, 48) or (N, 48, 48, 1) array.
        titles: N strings (``\\n`` for a second line) or None; printed in ``PANEL_PT``, so a title should be
            no wider than ``size`` (about 11 characters per inch).
        columns: images per row.
        cmap, vmin, vmax: colour mapping (per image when vmin/vmax are None).
        size: width of one image in inches; the figure is ``size * columns`` wide, which should stay within
            ``WIDTH_IN``.
        suptitle: a title over the grid.
    Returns:
        The matplotlib Figure.
    """
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., 0]
    count = len(images)
    columns = min(columns, max(count, 1))
    rows = int(np.ceil(count / columns))
    lines = max((title.count("\n") + 1 for title in titles), default=0) if titles is not None else 0
    row_height = size + lines * PANEL_PT * 1.3 / 72
    figure, axes = _subplots(size * columns, row_height * rows + (0.25 if suptitle else 0), rows, columns,
                             squeeze=False)
    figure.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.02, hspace=0.02)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < count:
            axis.imshow(images[index], cmap=cmap, vmin=vmin, vmax=vmax)
            if titles is not None:
                axis.set_title(titles[index], fontsize=PANEL_PT, pad=2)
    if suptitle:
        figure.suptitle(suptitle, fontsize=SUPTITLE_PT)
    return figure


def _method_title(name):
    """A saliency method's display name over a panel, wrapped to two lines of at most 11 characters."""
    return textwrap.fill(narrative.method_name(name), 11)


@_drawn("saliency_panel")
def saliency_panel(images, maps_by_method, titles=None):
    """Rows = images; columns = the face, then each method's heatmap and its overlay on the face.

    The panels share ``WIDTH_IN`` (0.74 in each with four methods), so a row of four faces is 3.3 in tall.

    Args:
        images: (N, 48, 48, 1) faces.
        maps_by_method: {method name: (N, 48, 48) maps}; columns are titled with ``narrative.method_name``.
        titles: N row labels.
    Returns:
        The matplotlib Figure.
    """
    faces = np.asarray(images)[..., 0]
    methods = list(maps_by_method)
    columns = 1 + 2 * len(methods)
    panel = (WIDTH_IN - 0.25) / columns
    figure, axes = _subplots(WIDTH_IN, panel * len(faces) + 0.3, len(faces), columns, squeeze=False)
    figure.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.02, hspace=0.02)
    for row, face in enumerate(faces):
        axes[row, 0].imshow(face, cmap="gray", vmin=0, vmax=255)
        axes[row, 0].set_ylabel(titles[row] if titles is not None else "", fontsize=LABEL_PT)
        for column, method in enumerate(methods):
            saliency = np.abs(maps_by_method[method][row])
            saliency = saliency / (saliency.max() + 1e-12)
            axes[row, 1 + 2 * column].imshow(saliency, cmap="inferno", vmin=0, vmax=1)
            axes[row, 2 + 2 * column].imshow(face, cmap="gray", vmin=0, vmax=255)
            axes[row, 2 + 2 * column].imshow(saliency, cmap="jet", alpha=0.45, vmin=0, vmax=1)
            if row == 0:
                axes[row, 1 + 2 * column].set_title(_method_title(method), fontsize=PANEL_PT, pad=2)
                axes[row, 2 + 2 * column].set_title("overlay", fontsize=PANEL_PT, pad=2)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    axes[0, 0].set_title("face", fontsize=PANEL_PT, pad=2)
    return figure


@_drawn("curves")
def curves(x, curves_by_name, xlabel, ylabel, title=""):
    """Line plot of named curves over a shared x axis (e.g. deletion curves), half the text width.

    Args:
        x: (K,) x values.
        curves_by_name: {label: (K,) y values}; saliency method names are shown as ``narrative.method_name``.
    Returns:
        The matplotlib Figure (3.45 x 2.4 in: two fit side by side).
    """
    figure, axis = _subplots(3.45, 2.4)
    for label, values in curves_by_name.items():
        axis.plot(x, values, marker=".", markersize=4, linewidth=1.2, label=narrative.method_name(label))
    axis.set_xlabel(xlabel, fontsize=LABEL_PT)
    axis.set_ylabel(ylabel, fontsize=LABEL_PT)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=PANEL_PT, handlelength=1.5, labelspacing=0.3, borderpad=0.3)
    if title:
        axis.set_title(title, fontsize=TITLE_PT)
    return figure


@_drawn("class_table_heatmap")
def class_table_heatmap(table, title, xlabel="class", ylabel="filter", column_in=0.5, fmt=".2g"):
    """A heatmap of a table such as filters x class distribution of top activations (or its transpose).

    Args:
        table: a pandas DataFrame, e.g. with class-name columns; up to 32 rows are annotated with their values.
        title, xlabel, ylabel: the axis' title and labels.
        column_in: width of a column in inches.
        fmt: the annotations' format.
    Returns:
        The matplotlib Figure: ``column_in`` per column (at most ``WIDTH_IN`` wide), 0.15 in per row.
    """
    import seaborn as sns

    figure, axis = _subplots(min(0.8 + column_in * table.shape[1], WIDTH_IN), 0.15 * len(table) + 0.75)
    sns.heatmap(table, cmap="Greens", annot=len(table) <= 32, fmt=fmt, ax=axis, cbar=False,
                annot_kws={"fontsize": PANEL_PT})
    axis.tick_params(axis="x", rotation=0)
    axis.tick_params(axis="y", rotation=0)
    axis.set_xlabel(xlabel, fontsize=LABEL_PT)
    axis.set_ylabel(ylabel, fontsize=LABEL_PT)
    axis.set_title(title, fontsize=TITLE_PT)
    return figure


@_drawn("regions_on_face")
def regions_on_face(mean_face, regions, title=""):
    """The face-part boxes drawn and named on a face, e.g. the mean face of the data a result comes from.

    Args:
        mean_face: (H, W) or (H, W, 1) image, e.g. ``faces.mean_face(x)``; gray levels are stretched to fill
            the colour map.
        regions: {name: (row0, row1, col0, col1)} half-open pixel ranges, e.g. ``faces.regions_for(synthetic)``.
        title: an axis title.
    Returns:
        The matplotlib Figure (2.6 x 2.7 in), one rectangle patch per region.
    Raises:
        ValueError: an image of another shape, or a box that is empty or leaves the image (named).
    """
    from matplotlib import patches

    image = np.asarray(mean_face, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"mean_face has shape {np.shape(mean_face)}; expected (H, W) or (H, W, 1)")
    height, width = image.shape
    for name, (row0, row1, col0, col1) in regions.items():
        if not (0 <= row0 < row1 <= height and 0 <= col0 < col1 <= width):
            raise ValueError(f"region {name!r} = {(row0, row1, col0, col1)} is empty or outside the "
                             f"{height}x{width} image; expected 0 <= row0 < row1 <= {height}, "
                             f"0 <= col0 < col1 <= {width}")
    figure, axis = _subplots(2.6, 2.7)
    axis.imshow(image, cmap="gray")
    colours = plt.get_cmap("tab10").colors
    for index, (name, (row0, row1, col0, col1)) in enumerate(regions.items()):
        colour = colours[index % len(colours)]
        # Pixel (r, c) covers [c - 0.5, c + 0.5] x [r - 0.5, r + 0.5] in imshow's coordinates.
        axis.add_patch(patches.Rectangle((col0 - 0.5, row0 - 0.5), col1 - col0, row1 - row0, fill=False,
                                         edgecolor=colour, linewidth=1.5))
        axis.text(col0, row0 + 0.2, name, color=colour, fontsize=PANEL_PT, va="top", ha="left",
                  bbox={"facecolor": "black", "alpha": 0.4, "pad": 1, "linewidth": 0})
    axis.set_xticks(range(0, width + 1, 8))
    axis.set_yticks(range(0, height + 1, 8))
    if title:
        axis.set_title(title, fontsize=TITLE_PT)
    return figure


def _draw_photo(axis, pixels, boxes, labels, width):
    """A photo on ``axis`` with a yellow box and a label over each face (``width``: the panel's inches)."""
    from matplotlib.patches import Rectangle

    height = np.asarray(pixels).shape[0]
    axis.imshow(pixels)
    for (x, y, box_width, box_height), label in zip(boxes, labels):
        axis.add_patch(Rectangle((x - 0.5, y - 0.5), box_width, box_height, fill=False, edgecolor="#ffd400",
                                 linewidth=max(1.0, width / 2.8)))
        axis.text(x - 0.5, y - 0.5 - 0.01 * height, label, fontsize=LABEL_PT, color="black", va="bottom",
                  bbox={"facecolor": "#ffd400", "edgecolor": "none", "pad": 1.5})
    axis.axis("off")


@_drawn("annotated_photo")
def annotated_photo(pixels, boxes, labels, width=WIDTH_IN * 0.6):
    """A photo with a box and a label on each face found in it.

    Args:
        pixels: (H, W, 3) uint8 RGB photo.
        boxes: (x, y, width, height) per face, photo pixels.
        labels: one text per face (e.g. "1 happy 0.83"), printed above its box.
        width: the figure's width in inches; the height follows the photo's aspect.
    Returns:
        The matplotlib Figure.
    """
    height, photo_width = np.asarray(pixels).shape[:2]
    width = min(width, MAX_HEIGHT_IN * photo_width / height)  # a tall photo is narrowed to the page's height
    figure, axis = _subplots(width, max(width * height / photo_width, 0.3))
    figure.get_layout_engine().set(w_pad=0, h_pad=0, wspace=0, hspace=0)
    _draw_photo(axis, pixels, boxes, labels, width)
    return figure


@_drawn("annotated_photos")
def annotated_photos(photos, panel=3.4, columns=2):
    """Several annotated photos side by side, ``columns`` per row, each ``panel`` inches wide.

    Args:
        photos: (pixels, boxes, labels) per photo, as for ``annotated_photo``; titled by nothing (the caption
            and the labels say what they are).
    Returns:
        The matplotlib Figure (at most ``panel * columns`` wide).
    """
    columns = max(1, min(columns, len(photos)))
    rows = int(np.ceil(len(photos) / columns))
    aspect = max(np.asarray(pixels).shape[0] / np.asarray(pixels).shape[1] for pixels, _, _ in photos)
    figure, axes = _subplots(panel * columns, panel * aspect * rows, rows, columns, squeeze=False)
    figure.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.02, hspace=0.02)
    for axis in axes.flat:
        axis.axis("off")
    for axis, (pixels, boxes, labels) in zip(axes.flat, photos):
        _draw_photo(axis, pixels, boxes, labels, panel)
    return figure


@_drawn("face_cards")
def face_cards(crops, maps_by_method, probabilities, titles, picture=1.0, bars=3.3):
    """One row per face: the aligned 48x48 crop, each saliency map over it, and its seven probabilities as bars.

    Args:
        crops: (N, 48, 48) uint8 aligned faces.
        maps_by_method: {method name: (N, 48, 48) maps} (e.g. Grad-CAM, SmoothGrad), overlaid on the crop.
        probabilities: (N, 7) class probabilities.
        titles: N row labels (e.g. "face 1").
        picture, bars: inches of each picture and of the bar chart.
    Returns:
        The matplotlib Figure (at most ``WIDTH_IN`` wide; 1.1 in per face, or the picture's width when larger).
    """
    crops, probabilities = np.asarray(crops), np.asarray(probabilities)
    if not len(crops):
        figure, axis = _subplots(WIDTH_IN * 0.5, 0.4)
        axis.text(0.5, 0.5, "no face found in the photos", ha="center", va="center", fontsize=LABEL_PT)
        axis.axis("off")
        return figure
    methods = list(maps_by_method)
    width = min(WIDTH_IN, picture * (1 + len(methods)) + bars)
    figure, axes = _subplots(width, max(1.1, picture + 0.1) * len(crops) + 0.2, len(crops), 2 + len(methods),
                             squeeze=False, width_ratios=[picture] * (1 + len(methods)) + [width - picture * (1 + len(methods))])
    for row, crop in enumerate(crops):
        axes[row, 0].imshow(crop, cmap="gray", vmin=0, vmax=255)
        axes[row, 0].set_ylabel(titles[row], fontsize=LABEL_PT)
        for column, method in enumerate(methods, start=1):
            saliency = np.abs(maps_by_method[method][row])
            axes[row, column].imshow(crop, cmap="gray", vmin=0, vmax=255)
            axes[row, column].imshow(saliency / (saliency.max() + 1e-12), cmap="jet", alpha=0.45, vmin=0, vmax=1)
            if row == 0:
                axes[row, column].set_title(_method_title(method), fontsize=PANEL_PT, pad=2)
        for axis in axes[row, :-1]:
            axis.set_xticks([])
            axis.set_yticks([])
        bars = axes[row, -1]
        best = int(np.argmax(probabilities[row]))
        bars.barh(range(len(CLASS_NAMES)), probabilities[row],
                  color=["#1f77b4" if index == best else "#aec7e8" for index in range(len(CLASS_NAMES))])
        bars.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES)
        bars.invert_yaxis()
        bars.set_xlim(0, 1)
        for index, value in enumerate(probabilities[row]):
            bars.text(min(value, 0.82) + 0.02, index, f"{value:.2f}", va="center", fontsize=PANEL_PT)
        if row == len(crops) - 1:
            bars.set_xlabel("probability", fontsize=LABEL_PT)
    axes[0, 0].set_title("aligned face", fontsize=PANEL_PT, pad=2)
    return figure
