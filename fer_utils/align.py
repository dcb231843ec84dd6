"""Framing a face of an ordinary photo as FER2013 frames its faces: eyes level, at FER2013's eye row and spacing,
then 48x48 grayscale.

A similarity transform (rotation, one scale, shift) takes the two eye centres found by ``detect`` to
``faces.FER2013_EYES``, measured on the real FER2013 (row 17.5, columns 14.7 and 32.3), or, for a face turned
aside, keeps its mouth on FER2013's lips row (``eye_transform``). Before sampling, the photo is shrunk by a whole
factor with a box filter so that the final resampling shrinks by less than 2x (sampling a 100-pixel face straight
to 48 pixels would alias).
"""

import numpy as np
from PIL import Image

from fer_utils import IMAGE_SIZE, faces


def eye_transform(left_eye, right_eye, mouth=None, eyes=faces.FER2013_EYES, lips_row=faces.FER2013_LIPS_ROW):
    """The 2x3 matrix taking photo (x, y) to crop (column, row): the eyes level, their midpoint on ``eyes``' midpoint.

    The scale puts the eyes ``eyes``' distance apart, or, when it is smaller, the mouth ``lips_row - eye row``
    below them: a face turned aside shows its eyes closer together but keeps its height, and is then framed by its
    height (its eyes land on the eye row, closer together than FER2013's), so its mouth stays in the frame.

    Args:
        left_eye, right_eye: (x, y) of the eye on the image's left and of the other, in photo pixels.
        mouth: (x, y) between the mouth corners (``detect.Face.mouth``), or None to scale by the eyes alone.
        eyes: ((row, column), (row, column)) targets in the 48x48 frame, the image-left eye first.
        lips_row: the row the mouth belongs on.
    Returns:
        (2, 3) float64 matrix M: [column, row] = M @ [x, y, 1].
    Raises:
        ValueError: the eyes coincide.
    """
    source = np.array([left_eye, right_eye], np.float64)  # (2, 2) x, y
    target = np.array([[column, row] for row, column in eyes], np.float64)  # (2, 2) column, row
    source_vector, target_vector = source[1] - source[0], target[1] - target[0]
    length = np.hypot(*source_vector)
    if length < 1e-6:
        raise ValueError(f"the eyes coincide at {tuple(source[0])}: no face to align")
    scale = np.hypot(*target_vector) / length
    if mouth is not None:
        drop = np.hypot(*(np.asarray(mouth, np.float64) - source.mean(axis=0)))  # eyes' midpoint to the mouth
        if drop > 1e-6:
            scale = min(scale, (lips_row - target[:, 1].mean()) / drop)
    angle = np.arctan2(target_vector[1], target_vector[0]) - np.arctan2(source_vector[1], source_vector[0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shift = target.mean(axis=0) - rotation @ source.mean(axis=0)
    return np.hstack([rotation, shift[:, None]])


def map_points(matrix, points):
    """Points (x, y) of the photo mapped by ``matrix``: an (N, 2) array of (column, row) in the crop."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    return points @ matrix[:, :2].T + matrix[:, 2]


def tilt_degrees(left_eye, right_eye):
    """How far the eye line is turned from level, in degrees (positive: the image-right eye is lower)."""
    (x0, y0), (x1, y1) = left_eye, right_eye
    return float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))


def aligned_face(image, left_eye, right_eye, mouth=None, size=IMAGE_SIZE):
    """The face framed as FER2013's: a (size, size) uint8 grayscale crop.

    Args:
        image: (H, W) grayscale or (H, W, 3) RGB uint8 photo (colour is turned to ITU-R 601-2 luma, as the
            image-folder reader does).
        left_eye, right_eye: (x, y) eye centres in the photo (``detect.Face.eyes``).
        mouth: (x, y) between the mouth corners (``detect.Face.mouth``), or None (see ``eye_transform``).
        size: the crop's side; FER2013's is 48 (the eye targets scale with it).
    Returns:
        (size, size) uint8; pixels outside the photo are the photo's mean gray.
    """
    photo = Image.fromarray(np.asarray(image)).convert("L")
    ratio = size / IMAGE_SIZE
    eyes = tuple((row * ratio, column * ratio) for row, column in faces.FER2013_EYES)
    matrix = eye_transform(left_eye, right_eye, mouth, eyes, faces.FER2013_LIPS_ROW * ratio)
    # photo pixels per crop pixel p; shrinking by floor(p / 2) + 1 first leaves the resampling less than 2x
    shrink = int(1 / np.hypot(*matrix[:, 0]) // 2) + 1
    if shrink > 1:
        photo = photo.reduce(shrink)  # box filter; a photo pixel p becomes (p + 0.5) / shrink - 0.5
        matrix = matrix @ np.array([[shrink, 0, (shrink - 1) / 2], [0, shrink, (shrink - 1) / 2], [0, 0, 1]])
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]  # crop -> photo, as PIL's AFFINE wants
    # PIL samples output pixel (i, j) at its centre (i + 0.5, j + 0.5) and reads input coordinate u as pixel
    # u - 0.5: shift by half a pixel on both sides so that pixel centres map to pixel centres
    centred = inverse @ np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    centred[:, 2] += 0.5
    fill = int(np.asarray(photo).mean() + 0.5)
    crop = photo.transform((size, size), Image.AFFINE, data=tuple(centred.ravel()), resample=Image.BILINEAR,
                           fillcolor=fill)
    return np.asarray(crop, np.uint8)
