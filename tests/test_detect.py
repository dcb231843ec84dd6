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
