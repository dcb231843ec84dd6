"""Face detection on a real photo: NASA's portrait of Eileen Collins that ships with scikit-image (public domain)."""

import numpy as np
import pytest
from PIL import Image

from fer_utils import detect
from photographs import ASTRONAUT_EYES, ASTRONAUT_MOUTH, astronaut, gradient


def inside(point, box):
    x, y, width, height = box
    return x <= point[0] <= x + width and y <= point[1] <= y + height


def test_the_portrait_has_exactly_one_face_and_its_box_covers_the_face():
    found = detect.find_faces(astronaut())
    assert len(found) == 1
    face = found[0]
    # the eyes and the mouth, located by hand on the photo, lie in the box; the box is face-sized, not the whole photo
    assert all(inside(point, face.box) for point in (*ASTRONAUT_EYES, ASTRONAUT_MOUTH))
    assert 60 <= face.box[2] <= 130 and 70 <= face.box[3] <= 150, face.box
    assert face.confidence >= detect.MIN_CONFIDENCE
    for found_eye, marked_eye in zip(face.eyes, ASTRONAUT_EYES):  # image-left eye first, within 4 photo pixels
        assert np.hypot(*np.subtract(found_eye, marked_eye)) <= 4, (found_eye, marked_eye)


def test_a_grayscale_photo_gives_the_same_face():
    gray = np.asarray(Image.fromarray(astronaut()).convert("L"))
    [colour], [face] = detect.find_faces(astronaut()), detect.find_faces(gray)
    assert np.abs(np.subtract(colour.box, face.box)).max() <= 0.1 * colour.box[2]  # within a tenth of the face
    assert np.abs(np.subtract(colour.eyes, face.eyes)).max() <= 3


def test_a_photo_without_a_face_gives_no_face():
    assert detect.find_faces(gradient()) == []
    assert detect.find_faces(np.zeros((10, 10), np.uint8)) == []  # smaller than the smallest face


def test_the_confidence_threshold_leaves_faces_out():
    assert detect.find_faces(astronaut(), min_confidence=1.0) == []


@pytest.mark.parametrize("image", [np.zeros((50, 50, 4), np.uint8), np.zeros((50, 50), np.float32)])
def test_bad_images_are_refused(image):
    with pytest.raises(ValueError, match="expected"):
        detect.find_faces(image)


def test_a_large_photo_is_searched_reduced_and_answers_in_its_own_pixels():
    [full], [reduced] = detect.find_faces(astronaut()), detect.find_faces(astronaut(), max_side=256)
    assert np.abs(np.subtract(full.eyes, reduced.eyes)).max() <= 3
    assert np.abs(np.subtract(full.box, reduced.box)).max() <= 0.1 * full.box[2]


def test_faces_are_numbered_in_reading_order():
    """A group photo: rows top to bottom, left to right in each, though a face's top wanders by a few pixels."""
    def face(x, y):
        return detect.Face(box=(x, y, 40, 50), confidence=1.0, landmarks={})

    grid = [face(300, 12), face(10, 10), face(150, 8), face(12, 105), face(160, 100)]
    ordered = detect.reading_order(grid)
    assert [item.box[:2] for item in ordered] == [(10, 10), (150, 8), (300, 12), (12, 105), (160, 100)]
