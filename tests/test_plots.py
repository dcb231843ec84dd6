"""Smoke tests for fer_utils.plots on tiny fixed inputs: each figure has the axes, titles and images it should."""

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported (by fer_utils.plots): no display needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from fer_utils import CLASS_NAMES, plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_training_curves_draws_loss_and_accuracy_per_epoch_from_one():
    history = pd.DataFrame({"epoch": [0, 1, 2], "loss": [1.9, 1.5, 1.2], "accuracy": [0.2, 0.4, 0.5],
                            "val_loss": [1.8, 1.6, 1.4], "val_accuracy": [0.25, 0.35, 0.45]})
    figure = plots.training_curves(history, title="run 1")
    assert isinstance(figure, plt.Figure) and len(figure.axes) == 2
    assert [axis.get_ylabel() for axis in figure.axes] == ["loss", "accuracy"]
    assert figure.get_suptitle() == "run 1"
    for axis, metric in zip(figure.axes, ("loss", "accuracy")):
        train_line, val_line = axis.get_lines()
        np.testing.assert_array_equal(train_line.get_xdata(), [1, 2, 3])  # epochs counted from 1
        np.testing.assert_allclose(train_line.get_ydata(), history[metric])
        np.testing.assert_allclose(val_line.get_ydata(), history[f"val_{metric}"])
        assert [text.get_text() for text in axis.get_legend().get_texts()] == ["train", "validation"]
    assert plots.training_curves(history).get_suptitle() == ""


def test_confusion_heatmap_normalises_rows_and_annotates_share_and_count():
    matrix = np.diag([4, 1, 2, 5, 3, 2, 6])
    matrix[0, 2] = 4  # angry: 4 right, 4 taken for fear
    matrix[1] = 0     # no disgust faces: its row stays 0, not nan
    figure = plots.confusion_heatmap(matrix, title="Q3")
    heatmap = figure.axes[0]
    assert len(figure.axes) == 2  # the heatmap and its colour bar
    assert heatmap.get_title() == "Q3"
    shares = np.asarray(heatmap.collections[0].get_array()).reshape(7, 7)
    assert shares[0, 0] == pytest.approx(0.5) and shares[0, 2] == pytest.approx(0.5)
    assert not shares[1].any() and np.isfinite(shares).all()
    assert shares[3, 3] == pytest.approx(1.0)
    texts = [text.get_text() for text in heatmap.texts]
    assert len(texts) == 49 and texts[0] == "0.50\n(4)" and texts[7] == "0.00\n(0)"
    assert [label.get_text() for label in heatmap.get_xticklabels()] == list(CLASS_NAMES)
    assert [label.get_text() for label in heatmap.get_yticklabels()] == list(CLASS_NAMES)


def test_image_grid_lays_out_images_in_rows_with_titles():
    images = np.arange(5 * 48 * 48, dtype=np.float64).reshape(5, 48, 48, 1) % 256  # (N, 48, 48, 1) accepted
    figure = plots.image_grid(images, titles=list("abcde"), columns=3, suptitle="faces")
    assert len(figure.axes) == 6  # 2 rows of 3
    shown = [axis.get_images() for axis in figure.axes]
    assert [len(images_on_axis) for images_on_axis in shown] == [1, 1, 1, 1, 1, 0]
    assert all(axis_images[0].get_array().shape == (48, 48) for axis_images in shown[:5])
    np.testing.assert_array_equal(shown[4][0].get_array(), images[4, ..., 0])
    assert [axis.get_title() for axis in figure.axes] == ["a", "b", "c", "d", "e", ""]
    assert figure.get_suptitle() == "faces"
    assert len(plots.image_grid(images[:2, ..., 0]).axes) == 2  # fewer images than columns: one short row


def test_saliency_panel_shows_face_then_map_and_overlay_per_method():
    faces = np.full((2, 48, 48, 1), 128, np.uint8)
    maps = {"gradient": np.ones((2, 48, 48)) * -3.0, "grad-cam": np.linspace(0, 2, 2 * 48 * 48).reshape(2, 48, 48)}
    figure = plots.saliency_panel(faces, maps, titles=["happy", "sad"])
    assert len(figure.axes) == 2 * (1 + 2 * 2)  # rows: faces; columns: face, then map and overlay per method
    first_row = figure.axes[:5]
    assert [axis.get_title() for axis in first_row] == ["face", "gradient", "overlay", "grad-cam", "overlay"]
    assert [len(axis.get_images()) for axis in first_row] == [1, 1, 2, 1, 2]  # an overlay: face + map
    assert [figure.axes[row * 5].get_ylabel() for row in (0, 1)] == ["happy", "sad"]
    gradient_map = first_row[1].get_images()[0].get_array()
    assert gradient_map.shape == (48, 48) and np.allclose(gradient_map, 1.0)  # |map| scaled to a maximum of 1
    assert figure.axes[5 + 3].get_images()[0].get_array().max() == pytest.approx(1.0)


def test_curves_draws_one_labelled_line_per_name():
    x = np.linspace(0, 1, 5)
    figure = plots.curves(x, {"gradient": x ** 2, "random": x}, xlabel="share deleted", ylabel="probability",
                          title="deletion")
    (axis,) = figure.axes
    assert [line.get_label() for line in axis.get_lines()] == ["gradient", "random"]
    np.testing.assert_allclose(axis.get_lines()[0].get_ydata(), x ** 2)
    assert (axis.get_xlabel(), axis.get_ylabel(), axis.get_title()) == ("share deleted", "probability", "deletion")
    assert [text.get_text() for text in axis.get_legend().get_texts()] == ["gradient", "random"]


def test_class_table_heatmap_annotates_small_tables_only():
    table = pd.DataFrame(np.eye(3, 7), columns=CLASS_NAMES, index=["filter 0", "filter 1", "filter 2"])
    figure = plots.class_table_heatmap(table, "top activations")
    (axis,) = figure.axes  # no colour bar
    assert axis.get_title() == "top activations" and (axis.get_xlabel(), axis.get_ylabel()) == ("class", "filter")
    assert [label.get_text() for label in axis.get_xticklabels()] == list(CLASS_NAMES)
    np.testing.assert_allclose(np.asarray(axis.collections[0].get_array()).reshape(3, 7), np.eye(3, 7))
    assert len(axis.texts) == 21 and axis.texts[0].get_text() == "1"
    big = pd.DataFrame(np.zeros((40, 7)), columns=CLASS_NAMES)
    assert len(plots.class_table_heatmap(big, "40 filters").axes[0].texts) == 0  # too many cells to annotate


# --- figures drawn at their printed size, text readable on A4 (issue: figure text too small on paper) ---


def _every_figure():
    """Each plots function on inputs shaped like the workbook's (24 mistakes, four faces, 16 filters, ...)."""
    rng = np.random.default_rng(0)
    faces = rng.uniform(0, 255, (24, 48, 48, 1))
    history = pd.DataFrame({"epoch": range(4), "loss": [1.9, 1.5, 1.3, 1.2], "accuracy": [0.2, 0.4, 0.5, 0.6],
                            "val_loss": [1.8, 1.6, 1.5, 1.4], "val_accuracy": [0.25, 0.35, 0.45, 0.5]})
    methods = ("vanilla", "smoothgrad", "integrated_gradients", "grad_cam")
    maps = {name: rng.normal(size=(4, 48, 48)) for name in methods}
    deletion = {name: np.linspace(0.7, 0.1, 21) for name in ("random order", *maps)}
    shares = pd.DataFrame(rng.dirichlet(np.ones(7), 10), columns=CLASS_NAMES)
    mistakes = ["neutral →\nsurprise (100%)"] * 24
    return {
        "training curves": plots.training_curves(history, "vgg_small on synthetic faces (generator fer_utils.synth)"),
        "confusion matrix": plots.confusion_heatmap(rng.integers(0, 900, (7, 7))),
        "mistakes": plots.image_grid(faces, mistakes, columns=8, size=0.875, vmin=0, vmax=255),
        "saliency": plots.saliency_panel(faces[:4], maps, titles=["angry", "happy", "sad", "surprise"]),
        "class means": plots.image_grid(faces[:7], CLASS_NAMES, columns=7, cmap="inferno", size=1.0),
        "filters": plots.image_grid(faces[:16], [f"{i}: {i * 1.7:.2g}" for i in range(16)], columns=8,
                                    suptitle="conv3_2: the 16 of 64 filters with the highest activation"),
        "deletion": plots.curves(np.linspace(0, 1, 21), deletion, "share of pixels removed", "probability",
                                 title="Deletion"),
        "class shares": plots.class_table_heatmap(shares, "conv3_2: classes among each filter's top 9 faces"),
        "regions": plots.regions_on_face(faces[0], {"eyes": (16, 24, 8, 40), "mouth": (32, 42, 14, 34)}, "regions"),
        "top faces": plots.image_grid(faces[:18], columns=9, size=0.75, suptitle="top faces (one row each)"),
    }


def test_every_figure_fits_the_a4_text_width_with_text_of_at_least_7_pt():
    """Before, figures were 9-11 in wide with 7-8 pt text and printed at 0.58 of their size: 4 pt on paper."""
    from fer_utils import layout

    for name, figure in _every_figure().items():
        assert figure.get_figwidth() <= layout.TEXT_WIDTH_IN, (name, figure.get_figwidth())
        assert plots.smallest_font_pt(figure) >= layout.MIN_FONT_PT, (name, plots.smallest_font_pt(figure))


def test_the_confusion_matrix_is_drawn_at_least_70_percent_of_the_text_width():
    from fer_utils import layout

    assert plots.confusion_heatmap(np.eye(7, dtype=int)).get_figwidth() >= 0.7 * layout.TEXT_WIDTH_IN


def test_panel_titles_do_not_run_into_each_other():
    """Titles as long as the workbook's ("neutral →" / "surprise (100%)") stay within their column."""
    figures = _every_figure()
    for name in ("mistakes", "saliency", "filters"):
        figure = figures[name]
        figure.draw_without_rendering()
        renderer = figure.canvas.get_renderer()
        rows = {}
        for axis in figure.axes:
            if axis.title.get_text():
                box = axis.title.get_window_extent(renderer)
                rows.setdefault(round(box.y0), []).append(box)
        for row in rows.values():
            row.sort(key=lambda box: box.x0)
            assert all(left.x1 <= right.x0 for left, right in zip(row, row[1:])), name


def test_visible_texts_leave_out_hidden_text_and_the_ticks_of_an_axis_switched_off():
    figure, (shown, hidden) = plt.subplots(1, 2)
    shown.set_title("kept", fontsize=9)
    hidden.axis("off")
    hidden.set_title("also kept", fontsize=8)
    hidden.text(0.5, 0.5, "invisible", fontsize=3).set_visible(False)
    shown.tick_params(labelsize=6)
    figure.draw_without_rendering()
    texts = [text.get_text() for text in plots.visible_texts(figure)]
    assert "kept" in texts and "also kept" in texts and "invisible" not in texts
    assert plots.smallest_font_pt(figure) == 6  # the shown axis' tick labels; the hidden axis' would be 10
    hidden.tick_params(labelsize=2)
    assert plots.smallest_font_pt(figure) == 6


def test_png_records_the_kind_width_and_smallest_font_for_the_layout_check():
    from fer_utils import layout

    figure = plots.curves(np.arange(3), {"grad_cam": np.arange(3)}, "x", "y", title="t")
    info = layout.png_info(plots.png(figure))
    assert info["text"][layout.KIND_KEY] == "curves" and float(info["text"][layout.WIDTH_KEY]) == 3.45
    assert float(info["text"][layout.FONT_KEY]) == plots.PANEL_PT
    assert info["dpi"] == pytest.approx(plots.DPI, abs=0.01) and info["width"] == round(3.45 * plots.DPI)
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == ["Grad-CAM"]
    small, axis = plt.subplots(figsize=(2, 1))
    axis.set_title("tiny", fontsize=5)
    axis.set_xticks([])
    axis.set_yticks([])
    tiny = layout.png_info(plots.png(small))["text"]
    assert float(tiny[layout.FONT_KEY]) == 5 and tiny[layout.KIND_KEY] == "" and float(tiny[layout.WIDTH_KEY]) == 2
    blank, _ = plt.subplots(figsize=(1, 1))
    blank.axes[0].axis("off")
    assert layout.png_info(plots.png(blank))["text"][layout.FONT_KEY] == "none"


def test_a_figure_shows_in_a_notebook_as_its_png_at_its_printed_width():
    """The inline backend displays a figure through ``_ipython_display_``: the PNG with the layout metadata."""
    import base64

    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from fer_utils import layout

    InteractiveShell.instance()
    figure = plots.image_grid(np.zeros((2, 48, 48)), ["a", "b"], columns=2)
    with capture_output() as captured:
        figure._ipython_display_()
    (output,) = captured.outputs
    assert output.metadata == {"image/png": {"width": round(figure.get_figwidth() * 96)}}
    info = layout.png_info(base64.b64decode(output.data["image/png"]))
    assert info["text"][layout.KIND_KEY] == "image_grid" and float(info["text"][layout.FONT_KEY]) == plots.PANEL_PT


def test_saliency_panel_titles_name_the_methods_as_the_report_does():
    maps = {"integrated_gradients": np.ones((1, 48, 48)), "grad_cam": np.ones((1, 48, 48))}
    figure = plots.saliency_panel(np.zeros((1, 48, 48, 1)), maps)
    assert [axis.get_title() for axis in figure.axes] == ["face", "Integrated\nGradients", "overlay", "Grad-CAM",
                                                          "overlay"]
