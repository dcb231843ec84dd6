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


@functools.cache
def _detector():
    """The MTCNN detector (built once per process: its three networks load in about 0.2 s)."""
    from mtcnn import MTCNN

    return MTCNN(device="CPU:0")


def find_faces(image, min_confidence=MIN_CONFIDENCE, min_face_px=MIN_FACE_PX):
    """Every face in a photo, left to right.

    Args:
        image: (H, W, 3) RGB or (H, W) grayscale uint8 photo, upright (``photos.read`` applies EXIF rotation).
        min_confidence: faces MTCNN is less sure of are dropped.
        min_face_px: the smallest face searched for, in photo pixels.
    Returns:
        A list of ``Face``, sorted by the box's left edge ([] when there is none).
    Raises:
        ValueError: not an (H, W) or (H, W, 3) uint8 image, or a bad threshold.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(f"image has shape {image.shape} and dtype {image.dtype}; expected (H, W) or (H, W, 3) uint8")
    if not 0 <= min_confidence <= 1 or min_face_px < 12:
        raise ValueError(f"min_confidence={min_confidence} must be in [0, 1] and min_face_px={min_face_px} >= 12 "
                         "(MTCNN's smallest window)")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)  # MTCNN reads three channels; gray stays gray
    if min(image.shape[:2]) < min_face_px:
        return []
    found = _detector().detect_faces(image, min_face_size=min_face_px, box_format="xywh")
    faces = [Face(box=tuple(int(value) for value in face["box"]), confidence=float(face["confidence"]),
                  landmarks={name: (float(face["keypoints"][name][0]), float(face["keypoints"][name][1]))
                             for name in LANDMARKS})
             for face in found if face["confidence"] >= min_confidence]
    return sorted(faces, key=lambda face: (face.box[0], face.box[1]))
