"""Tests for fer_utils.faces (face-part boxes, mean face) and plots.regions_on_face, on tiny exact fixtures."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib import patches

from fer_utils import IMAGE_SIZE, faces, plots, synth

PARTS = ("brows", "eyes", "nose", "mouth")
BOXES = {"fer2013": faces.FER2013_REGIONS, "synthetic": faces.SYNTHETIC_REGIONS}


@pytest.mark.parametrize("source", BOXES)
def test_boxes_are_non_empty_and_inside_the_image(source):
    regions = BOXES[source]
    assert set(PARTS) <= set(regions)
    for name, (row0, row1, col0, col1) in regions.items():
        assert 0 <= row0 < row1 <= IMAGE_SIZE, (source, name)
        assert 0 <= col0 < col1 <= IMAGE_SIZE, (source, name)


@pytest.mark.parametrize("source", BOXES)
def test_brows_eyes_nose_and_mouth_go_down_the_face_in_that_order(source):
    centres = [(BOXES[source][name][0] + BOXES[source][name][1]) / 2 for name in PARTS]  # row of each box's centre
    assert centres == sorted(centres) and len(set(centres)) == len(centres), dict(zip(PARTS, centres))


@pytest.mark.parametrize("source", BOXES)
def test_boxes_are_symmetric_about_the_midline(source):
    for name, (_, _, col0, col1) in BOXES[source].items():
        left_margin, right_margin = col0, IMAGE_SIZE - col1
        assert abs(left_margin - right_margin) <= 2, (source, name, col0, col1)


def test_regions_for_picks_the_boxes_of_the_data():
    assert faces.regions_for(True) == synth.AU_REGIONS
    assert faces.regions_for(False) == faces.FER2013_REGIONS
    assert faces.regions_for(np.bool_(False)) == faces.FER2013_REGIONS  # e.g. a value read from an array
    assert faces.FER2013_REGIONS != synth.AU_REGIONS  # real faces are framed differently
    regions = faces.regions_for(False)
    regions["eyes"] = (0, 1, 0, 1)
    assert faces.FER2013_REGIONS["eyes"] != (0, 1, 0, 1)  # callers get a copy
    with pytest.raises(TypeError, match="synthetic must be True or False"):
        faces.regions_for("real")


def test_mean_face_averages_faces_pixel_by_pixel():
    images = np.zeros((2, IMAGE_SIZE, IMAGE_SIZE, 1), np.uint8)
    images[0, 3, 4], images[1, 3, 4], images[1, 0, 0] = 255, 100, 7
    mean = faces.mean_face(images)
    assert mean.shape == (IMAGE_SIZE, IMAGE_SIZE) and mean.dtype == np.float64
    assert mean[3, 4] == 177.5 and mean[0, 0] == 3.5 and mean.sum() == 177.5 + 3.5  # no uint8 overflow
    np.testing.assert_array_equal(faces.mean_face(images[..., 0]), mean)
    with pytest.raises(ValueError, match=r"expected \(N, 48, 48\)"):
        faces.mean_face(np.zeros((2, 32, 32)))
    with pytest.raises(ValueError, match="N >= 1"):
        faces.mean_face(np.zeros((0, IMAGE_SIZE, IMAGE_SIZE)))


def test_regions_on_face_draws_one_named_rectangle_per_region():
    regions = {"eyes": (15, 24, 12, 36), "mouth": (34, 45, 16, 32), "face": (0, 48, 8, 40)}
    figure = plots.regions_on_face(np.arange(IMAGE_SIZE * IMAGE_SIZE).reshape(IMAGE_SIZE, IMAGE_SIZE), regions,
                                   title="mean face")
    try:
        axis = figure.axes[0]
        rectangles = [patch for patch in axis.patches if isinstance(patch, patches.Rectangle)]
        assert len(rectangles) == len(regions)
        for rectangle, (row0, row1, col0, col1) in zip(rectangles, regions.values()):
            # Pixel centres sit on integers, so a box starts half a pixel before its first row and column.
            assert rectangle.get_xy() == (col0 - 0.5, row0 - 0.5)
            assert (rectangle.get_width(), rectangle.get_height()) == (col1 - col0, row1 - row0)
        assert [text.get_text() for text in axis.texts] == list(regions)
        assert axis.get_title() == "mean face"
    finally:
        plt.close(figure)


def test_regions_on_face_names_a_box_outside_the_image():
    open_figures = len(plt.get_fignums())
    with pytest.raises(ValueError, match="region 'mouth'"):
        plots.regions_on_face(np.zeros((IMAGE_SIZE, IMAGE_SIZE)), {"eyes": (15, 24, 12, 36), "mouth": (34, 49, 16, 32)})
    assert len(plt.get_fignums()) == open_figures  # it raised before opening a figure
