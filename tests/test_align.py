"""Framing faces as FER2013 frames them: eyes level, at its measured eye row and spacing."""

import numpy as np
import pytest
from PIL import Image

from fer_utils import IMAGE_SIZE, align, detect, faces
from photographs import astronaut


def test_the_transform_takes_the_eyes_to_fer2013s_eye_positions():
    matrix = align.eye_transform((204.0, 100.0), (245.0, 106.0))
    mapped = align.map_points(matrix, [(204.0, 100.0), (245.0, 106.0)])
    np.testing.assert_allclose(mapped, [[column, row] for row, column in faces.FER2013_EYES], atol=1e-9)


def test_a_bright_pixel_lands_where_the_transform_says_without_and_with_shrinking():
    eyes = [(column, row) for row, column in faces.FER2013_EYES]
    small = np.zeros((48, 48), np.uint8)
    small[20, 10] = 255
    crop = align.aligned_face(small, *eyes)  # the identity
    assert np.unravel_index(crop.argmax(), crop.shape) == (20, 10) and crop.max() >= 250
    big = np.zeros((192, 192), np.uint8)
    big[80:84, 40:44] = 255  # crop pixel (20, 10) at 4x; pixel centres map as p = 4 q + 1.5
    crop = align.aligned_face(big, *[(4 * x + 1.5, 4 * y + 1.5) for x, y in eyes])
    assert np.unravel_index(crop.argmax(), crop.shape) == (20, 10) and crop.max() >= 128
    spot = crop.astype(float)
    assert spot[19:22, 9:12].sum() >= 0.95 * spot.sum()  # box-filtered, then resampled: no spill beyond a pixel


def test_a_face_turned_aside_keeps_its_mouth_in_the_frame():
    """Eyes 10 px apart (foreshortened) but the mouth 20 px below them: framed by its height, not its eye spacing."""
    eyes = ((100.0, 50.0), (110.0, 50.0))
    by_eyes, by_height = align.eye_transform(*eyes), align.eye_transform(*eyes, mouth=(105.0, 70.0))
    mouth_row = align.map_points(by_height, [(105.0, 70.0)])[0, 1]
    assert abs(mouth_row - faces.FER2013_LIPS_ROW) < 1e-9 and align.map_points(by_eyes, [(105.0, 70.0)])[0, 1] > 48
    np.testing.assert_allclose(align.map_points(by_height, eyes)[:, 1], faces.FER2013_EYES[0][0])  # on the eye row
    frontal = align.eye_transform((100.0, 50.0), (117.6, 50.0), mouth=(108.8, 60.0))  # a short face: eyes decide
    np.testing.assert_allclose(align.map_points(frontal, [(100.0, 50.0), (117.6, 50.0)]),
                               [[column, row] for row, column in faces.FER2013_EYES], atol=1e-9)


def test_coinciding_eyes_are_refused():
    with pytest.raises(ValueError, match="coincide"):
        align.eye_transform((10.0, 10.0), (10.0, 10.0))


@pytest.mark.parametrize("angle", [0, 15, -20])
def test_the_aligned_face_has_its_eyes_level_on_fer2013s_eye_row(angle):
    """The issue's check, independent of the transform: MTCNN run again on the aligned crop (enlarged 4x on a
    gray canvas) finds the eyes within 2 px of FER2013's measured eye row and columns, for upright and turned photos."""
    photo = np.asarray(Image.fromarray(astronaut()).rotate(angle, resample=Image.BICUBIC, fillcolor=(128, 128, 128)))
    [face] = detect.find_faces(photo)
    assert abs(align.tilt_degrees(*face.eyes) + angle) < 8  # the photo's turn is seen (her head tilts 3 degrees)
    crop = align.aligned_face(photo, *face.eyes, face.mouth)
    assert crop.shape == (IMAGE_SIZE, IMAGE_SIZE) and crop.dtype == np.uint8
    canvas = np.full((320, 320), int(crop.mean()), np.uint8)
    canvas[64:256, 64:256] = np.asarray(Image.fromarray(crop).resize((192, 192), Image.BICUBIC))
    [again] = detect.find_faces(canvas, min_confidence=0.5)
    found = [((y - 64 + 0.5) / 4 - 0.5, (x - 64 + 0.5) / 4 - 0.5) for x, y in again.eyes]  # (row, column) in the crop
    for (row, column), (target_row, target_column) in zip(found, faces.FER2013_EYES):
        assert abs(row - target_row) <= 2 and abs(column - target_column) <= 2, (found, angle)
    assert abs(found[0][0] - found[1][0]) <= 1  # level
