"""Where the parts of a face are: brow, eye, nose and mouth boxes for real FER2013 and for the synthetic faces."""

# Boxes are (row0, row1, col0, col1) half-open pixel ranges of a 48x48 face, the form that
# ``saliency.region_share`` and ``saliency.region_summary`` take. Real and synthetic faces are framed
# differently, so each data source has its own boxes: measure a source's boxes before reading saliency
# shares off them.

import numpy as np

from fer_utils import IMAGE_SIZE, synth

#: Face parts of real FER2013, measured by ``python bench/face_regions.py train.csv.gz`` (the course's file)
#: on the 28,709 faces of its Training split (method in that script's docstring): landmark rows from the
#: mean face's dark features (eyes 17.5, nostrils 31.0, lips 37.4) and from each face's brow (median 12.0);
#: bands meet halfway between landmarks; columns are half-maximum widths of the dark features. On the
#: synthetic set the same script finds rows within 2 px of ``synth.AU_REGIONS`` and narrower columns.
FER2013_REGIONS = {
    "brows": (9, 15, 12, 36),
    "eyes": (15, 24, 12, 36),
    "nose": (24, 34, 19, 29),
    "mouth": (34, 45, 16, 32),
    "face": (0, 48, 8, 40),
}
#: Where the eyes of real FER2013 sit, (row, column) of each eye's centre in the 48x48 frame (pixel centres 0..47;
#: the eye on the image's left first), measured by the same script on the same faces: the eye row of the
#: landmark rows above, each column the darkest point of the mean face along it (17.6 px apart). ``align``
#: frames the faces of ordinary photos this way.
FER2013_EYES = ((17.5, 14.7), (17.5, 32.3))
#: The lips' row of real FER2013 (the same measurement), for checking an aligned face's mouth.
FER2013_LIPS_ROW = 37.4
#: Face parts of the synthetic faces: the boxes of the generator's canonical face (``synth.AU_REGIONS``).
SYNTHETIC_REGIONS = synth.AU_REGIONS


def regions_for(synthetic):
    """The face-part boxes for the data a result was computed on.

    Args:
        synthetic: True for faces drawn by ``fer_utils.synth`` (e.g. ``workbook.synthetic``), False for real
            FER2013.
    Returns:
        A new dict {part name: (row0, row1, col0, col1)} with "brows", "eyes", "nose", "mouth" and "face";
        changing it leaves the module's boxes as they are.
    Raises:
        TypeError: ``synthetic`` is not a bool.
    """
    if not isinstance(synthetic, (bool, np.bool_)):
        raise TypeError(f"synthetic must be True or False, got {synthetic!r}")
    return dict(SYNTHETIC_REGIONS if synthetic else FER2013_REGIONS)


def mean_face(images):
    """The pixel-wise mean of a set of faces, the picture the face-part boxes are drawn on.

    Args:
        images: (N, 48, 48) or (N, 48, 48, 1) faces, any numeric dtype, N >= 1.
    Returns:
        (48, 48) float64 mean gray level per pixel.
    Raises:
        ValueError: images of another shape, or none.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]  # (N, 48, 48)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or not len(images):
        raise ValueError(f"images have shape {images.shape}; expected (N, {IMAGE_SIZE}, {IMAGE_SIZE}) or "
                         f"(N, {IMAGE_SIZE}, {IMAGE_SIZE}, 1) with N >= 1")
    return images.mean(axis=0, dtype=np.float64)
