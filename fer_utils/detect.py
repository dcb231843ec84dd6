"""Finding the faces in ordinary photos, with their eyes, nose and mouth corners: MTCNN on the CPU.

MTCNN (Zhang et al. 2016, https://arxiv.org/abs/1604.02878) in the ``mtcnn`` package (MIT licence): three small
TensorFlow networks whose weights ship inside its wheel, so nothing is downloaded when it runs. It gives each face
a box, a confidence and five landmarks (both eyes, the nose, both mouth corners), which ``align`` needs to frame
the face as FER2013 does. The README has its speed and the faces it finds on the shipped photos.
"""

import dataclasses
import functools

import numpy as np

#: Faces below this MTCNN confidence are dropped (its final stage already keeps only those from 0.8).
MIN_CONFIDENCE = 0.9
#: The smallest face searched for, in pixels of the photo (MTCNN's default); smaller faces have too few pixels.
MIN_FACE_PX = 20
#: Photos longer than this on one side are searched at a whole-factor reduction (``find_faces``).
MAX_SIDE = 2048
#: The five landmarks, in MTCNN's names ("left_eye" is the eye on the image's left).
LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclasses.dataclass(frozen=True)
class Face:
    """One face found in a photo; coordinates are photo pixels (x to the right, y down).

    Attributes:
        box: (x, y, width, height) of the face's box.
        confidence: MTCNN's probability that the box holds a face.
        landmarks: {name in ``LANDMARKS``: (x, y)}.
    """

    box: tuple
    confidence: float
    landmarks: dict

    @property
    def eyes(self):
        """((x, y) of the eye on the image's left, (x, y) of the other)."""
        return self.landmarks["left_eye"], self.landmarks["right_eye"]

    @property
    def mouth(self):
        """(x, y) halfway between the mouth corners."""
        (x0, y0), (x1, y1) = self.landmarks["mouth_left"], self.landmarks["mouth_right"]
        return (x0 + x1) / 2, (y0 + y1) / 2


@functools.cache
def _detector():
    """The MTCNN detector (built once per process: its three networks load in about 0.2 s)."""
    from mtcnn import MTCNN

    return MTCNN(device="CPU:0")


def find_faces(image, min_confidence=MIN_CONFIDENCE, min_face_px=MIN_FACE_PX, max_side=MAX_SIDE):
    """Every face in a photo, in reading order: rows top to bottom, left to right within a row.

    Args:
        image: (H, W, 3) RGB or (H, W) grayscale uint8 photo, upright (``photos.read`` applies EXIF rotation).
        min_confidence: faces MTCNN is less sure of are dropped (its own last stage keeps only those >= 0.8).
        min_face_px: the smallest face searched for, in photo pixels.
        max_side: a photo larger than this on its long side is searched at a whole-factor reduction (box
            filter), so a 6000x4000 photo costs what a 2000x1333 one does; coordinates are the photo's.
    Returns:
        A list of ``Face`` ([] when there is none); landmarks to a fraction of a pixel.
    Raises:
        ValueError: not an (H, W) or (H, W, 3) uint8 image, or a bad threshold.
    """
    from PIL import Image

    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(f"image has shape {image.shape} and dtype {image.dtype}; expected (H, W) or (H, W, 3) uint8")
    if not 0 <= min_confidence <= 1 or not min_face_px >= 12:
        raise ValueError(f"min_confidence={min_confidence} must be in [0, 1] and min_face_px={min_face_px} >= 12 "
                         "(MTCNN's smallest window)")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)  # MTCNN reads three channels; gray stays gray
    factor = max(1, -(-max(image.shape[:2]) // max_side))  # ceil: the long side ends within max_side
    if factor > 1:
        image = np.asarray(Image.fromarray(image).reduce(factor))
    if min(image.shape[:2]) < min_face_px / factor:
        return []
    found = _detector().detect_faces(image, min_face_size=max(12, int(min_face_px / factor)), box_format="xyxy",
                                     output_type="numpy")  # (n, 16): image, x1, y1, x2, y2, confidence, 5 x, 5 y
    found = np.asarray(found, np.float64).reshape(-1, 16)
    found = found[found[:, 5] >= min_confidence]
    corners = (found[:, 1:5] + 0.5) * factor - 0.5  # back to the photo's pixels (a reduced pixel q is p = k q + ...)
    points = (found[:, 6:16] + 0.5) * factor - 0.5
    faces = [Face(box=(int(round(x1)), int(round(y1)), int(round(x2 - x1)), int(round(y2 - y1))),
                  confidence=float(confidence),
                  landmarks={name: (float(points[index, part]), float(points[index, len(LANDMARKS) + part]))
                             for part, name in enumerate(LANDMARKS)})
             for index, ((x1, y1, x2, y2), confidence) in enumerate(zip(corners, found[:, 5]))]
    return reading_order(faces)


def reading_order(faces):
    """Faces sorted into rows (a face whose centre lies within half a face's height of a row's first face joins
    that row), rows top to bottom, left to right within each: a group photo is numbered as it is read."""
    rows = []
    for face in sorted(faces, key=lambda face: face.box[1] + face.box[3] / 2):
        centre = face.box[1] + face.box[3] / 2
        if rows and abs(centre - (rows[-1][0].box[1] + rows[-1][0].box[3] / 2)) <= rows[-1][0].box[3] / 2:
            rows[-1].append(face)
        else:
            rows.append([face])
    return [face for row in rows for face in sorted(row, key=lambda face: face.box[0])]
