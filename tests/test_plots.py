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
