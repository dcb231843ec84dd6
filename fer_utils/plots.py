"""Every figure of the workbook; the method modules return arrays and this module draws them."""

import matplotlib.pyplot as plt
import numpy as np

from fer_utils import CLASS_NAMES


def training_curves(history, title=""):
    """Loss and accuracy per epoch, train and validation, side by side.

    Args:
        history: a DataFrame with columns epoch, loss, accuracy, val_loss, val_accuracy.
        title: a suptitle.
    Returns:
        The matplotlib Figure.
    """
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    epochs = history["epoch"] + 1
    for axis, metric in zip(axes, ("loss", "accuracy")):
        axis.plot(epochs, history[metric], marker="o", label="train")
        axis.plot(epochs, history[f"val_{metric}"], marker="o", label="validation")
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def confusion_heatmap(matrix, title="Confusion matrix (rows: true class, normalised)"):
    """Seaborn heatmap of a row-normalised confusion matrix, each cell annotated with share and count.

    Args:
        matrix: (7, 7) counts, rows = true class.
    Returns:
        The matplotlib Figure.
    """
    import seaborn as sns

    matrix = np.asarray(matrix)
    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, totals, out=np.zeros(matrix.shape, float), where=totals > 0)
    labels = np.array([[f"{share:.2f}\n({count})" for share, count in zip(row_share, row)]
                       for row_share, row in zip(normalised, matrix)])
    figure, axis = plt.subplots(figsize=(7.5, 6.2))
    sns.heatmap(normalised, annot=labels, fmt="", cmap="Blues", vmin=0, vmax=1, square=True, ax=axis,
                xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES, cbar_kws={"label": "share of the true class"},
                annot_kws={"fontsize": 8})
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def image_grid(images, titles=None, columns=8, cmap="gray", size=1.3, vmin=None, vmax=None, suptitle=""):
    """A grid of 48x48 images (faces, maps or filter images) with optional titles.

    Args:
        images: (N, 48, 48) or (N, 48, 48, 1) array.
        titles: N strings or None.
        columns: images per row.
        cmap, vmin, vmax: colour mapping (per image when vmin/vmax are None).
    Returns:
        The matplotlib Figure.
    """
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., 0]
    count = len(images)
    columns = min(columns, max(count, 1))
    rows = int(np.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(size * columns, size * rows + (0.3 if suptitle else 0)),
                                squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < count:
            axis.imshow(images[index], cmap=cmap, vmin=vmin, vmax=vmax)
            if titles is not None:
                axis.set_title(titles[index], fontsize=7)
    if suptitle:
        figure.suptitle(suptitle)
    figure.tight_layout()
    return figure


def saliency_panel(images, maps_by_method, titles=None):
    """Rows = images; columns = the face, then each method's heatmap and its overlay on the face.

    Args:
        images: (N, 48, 48, 1) faces.
        maps_by_method: {method name: (N, 48, 48) maps}.
        titles: N row labels.
    Returns:
        The matplotlib Figure.
    """
    faces = np.asarray(images)[..., 0]
    methods = list(maps_by_method)
    columns = 1 + 2 * len(methods)
    figure, axes = plt.subplots(len(faces), columns, figsize=(1.25 * columns, 1.3 * len(faces)), squeeze=False)
    for row, face in enumerate(faces):
        axes[row, 0].imshow(face, cmap="gray", vmin=0, vmax=255)
        axes[row, 0].set_ylabel(titles[row] if titles is not None else "", fontsize=8)
        for column, method in enumerate(methods):
            saliency = np.abs(maps_by_method[method][row])
            saliency = saliency / (saliency.max() + 1e-12)
            axes[row, 1 + 2 * column].imshow(saliency, cmap="inferno", vmin=0, vmax=1)
            axes[row, 2 + 2 * column].imshow(face, cmap="gray", vmin=0, vmax=255)
            axes[row, 2 + 2 * column].imshow(saliency, cmap="jet", alpha=0.45, vmin=0, vmax=1)
            if row == 0:
                axes[row, 1 + 2 * column].set_title(method, fontsize=8)
                axes[row, 2 + 2 * column].set_title("overlay", fontsize=8)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    axes[0, 0].set_title("face", fontsize=8)
    figure.tight_layout()
    return figure


def curves(x, curves_by_name, xlabel, ylabel, title=""):
    """Line plot of named curves over a shared x axis (e.g. deletion curves).

    Args:
        x: (K,) x values.
        curves_by_name: {label: (K,) y values}.
    Returns:
        The matplotlib Figure.
    """
    figure, axis = plt.subplots(figsize=(5, 3.2))
    for label, values in curves_by_name.items():
        axis.plot(x, values, marker=".", label=label)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    if title:
        axis.set_title(title)
    figure.tight_layout()
    return figure


def class_table_heatmap(table, title, xlabel="class", ylabel="filter"):
    """A heatmap of a (rows x 7) table such as filters x class distribution of top activations.

    Args:
        table: a pandas DataFrame with class-name columns.
    Returns:
        The matplotlib Figure.
    """
    import seaborn as sns

    figure, axis = plt.subplots(figsize=(6, 0.22 * len(table) + 1.5))
    sns.heatmap(table, cmap="Greens", annot=len(table) <= 32, fmt=".2g", ax=axis, cbar=False)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    figure.tight_layout()
    return figure


def regions_on_face(mean_face, regions, title=""):
    """The face-part boxes drawn and named on a face, e.g. the mean face of the data a result comes from.

    Args:
        mean_face: (H, W) or (H, W, 1) image, e.g. ``faces.mean_face(x)``; gray levels are stretched to fill
            the colour map.
        regions: {name: (row0, row1, col0, col1)} half-open pixel ranges, e.g. ``faces.regions_for(synthetic)``.
        title: an axis title.
    Returns:
        The matplotlib Figure, one rectangle patch per region.
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
    figure, axis = plt.subplots(figsize=(4, 4))
    axis.imshow(image, cmap="gray")
    colours = plt.get_cmap("tab10").colors
    for index, (name, (row0, row1, col0, col1)) in enumerate(regions.items()):
        colour = colours[index % len(colours)]
        # Pixel (r, c) covers [c - 0.5, c + 0.5] x [r - 0.5, r + 0.5] in imshow's coordinates.
        axis.add_patch(patches.Rectangle((col0 - 0.5, row0 - 0.5), col1 - col0, row1 - row0, fill=False,
                                         edgecolor=colour, linewidth=1.5))
        axis.text(col0, row0 + 0.2, name, color=colour, fontsize=7, va="top", ha="left",
                  bbox={"facecolor": "black", "alpha": 0.4, "pad": 1, "linewidth": 0})
    axis.set_xticks(range(0, width + 1, 8))
    axis.set_yticks(range(0, height + 1, 8))
    if title:
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure
