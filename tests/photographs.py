"""Photos for the tests of ``fer-workbook faces``: a real public-domain portrait that ships inside a dependency."""

import numpy as np


def astronaut():
    """(512, 512, 3) uint8: NASA's portrait of astronaut Eileen Collins (public domain), from scikit-image."""
    from skimage import data

    return data.astronaut()


#: Where her eyes (image left first) and mouth centre are, (x, y) photo pixels, marked by hand.
ASTRONAUT_EYES = ((205, 100), (245, 101))
ASTRONAUT_MOUTH = (224, 140)


def gradient(size=256):
    """A photo of no face: a plain diagonal gradient, (size, size, 3) uint8."""
    ramp = np.add.outer(np.arange(size), np.arange(size)) * 255 // (2 * size - 2)
    return np.repeat(ramp.astype(np.uint8)[..., None], 3, axis=2)
