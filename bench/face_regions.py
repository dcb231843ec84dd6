"""Measure where the brows, eyes, nose and mouth sit in FER2013's framing; print them as face-part boxes.

Usage: python bench/face_regions.py PATH [--figure out.png]

PATH is your labeled FER2013 (e.g. the course's ``train.csv.gz``), any form ``fer_utils.data.load``
reads. The script prints a dict literal of (row0, row1, col0, col1) half-open boxes
to paste into ``fer_utils/faces.py``, the landmark rows and widths behind them, and with ``--figure`` saves the
boxes drawn on the mean face for a look. The figure shows the mean of the faces read: for real FER2013 it is
derived from licensed faces, so keep it out of the project (only the box coordinates are committed).

Method. Faces are framed alike, so each part sits in about the same pixels of every face.
1. Mean face M, averaged with its mirror image (faces are not turned one way more than the other, and the
   boxes are symmetric about the midline). Dark-feature map D = G3(M) - M: how much darker each pixel of M
   is than its Gaussian-blurred (sigma 3 px) surroundings; it peaks on the eyes, nostrils and lips.
2. Eyes: the highest D in the upper half of the face; the eye row is the peak of D averaged over the eye
   columns, refined to a fraction of a pixel by a parabola through the peak and its two neighbours; each eye
   centre's column is the darkest point of the mean face (smoothed, sigma 1 px) along that row, refined alike (``fer_utils.faces.FER2013_EYES``, the
   framing `fer-workbook faces` aligns photos to).
3. Nostrils and lips: the two highest local maxima of D averaged over the columns between the eyes, below the
   eye row; the upper is the nostrils, the lower the lips.
4. Brows: in the mean face they blur into the eye sockets (their height varies from face to face), so they
   are found face by face: each face is smoothed (sigma 0.7 px), its rows averaged over the eye columns, and
   its brow is the darkest local minimum (prominence >= 2 gray levels) 2 to 8 rows above its eye minimum (the
   darkest local minimum within 3 rows of the eye row; 8 rows is about half the distance between the eyes:
   further up lie hairlines and fringes). The brow row is the median over the faces where a brow
   was found (on real faces their histogram is a plateau, whose peak moves with the smoothing; the median
   does not).
5. Rows: neighbouring bands meet halfway between their landmark rows (brows|eyes|nose|mouth). The brow band is
   centred on the brow row. The mouth band reaches down as far as expressions change the pixels: the lowest
   row where the Fisher ratio E (between-class over within-class variance of each face's standardised pixels)
   along the midline is still at least half its maximum (the open mouth of surprise and fear).
6. Columns: threshold half maximum. Eyes and brows span the run of columns around the eyes where D along the
   eye row is at least half its peak; the nose the same along the nostril row, the mouth along the lip row,
   each mirrored about the midline. The face spans the columns between the steepest rises of M along the nose
   band (the cheeks' edges), at full height.
Needs real labeled faces, so it is a benchmark, never a test. Run on the synthetic set
(``data/synthetic/fer2013.csv.gz``) it recovers the rows of ``synth.AU_REGIONS`` within 2 px; its columns come
out narrower (by 1 px for the nose, 3 for brows, eyes and face, 6 for the mouth), as those boxes leave room
for smiles and head pose.
"""

import argparse
import os
import pathlib
import sys
import tempfile

import numpy as np
from scipy import ndimage, signal

from fer_utils import IMAGE_SIZE, NUM_CLASSES, data, faces, paths

DARK_SIGMA = 3.0  # px: blur of the mean face that dark features are measured against
EYE_SIGMA = 1.0  # px: smoothing of the mean face before the eye centres' columns are found
FACE_SIGMA = 0.7  # px: smoothing of each face before its row minima are found
PROMINENCE = 2.0  # gray levels: a row minimum shallower than this is noise
BROW_SEARCH = (2, 8)  # rows above a face's eye minimum searched for its brow
EYE_SEARCH = 3  # rows either side of the eye row searched for each face's eye minimum


def nearest(value):
    """The integer nearest to value, halves rounded up (Python's round() sends halves to the even one)."""
    return int(np.floor(value + 0.5))


def mirrored(image):
    """(H, W) image averaged with its left-right mirror."""
    return (image + image[..., ::-1]) / 2


def refined_peak(profile, index):
    """Sub-pixel position of a peak of a 1-D profile: the vertex of a parabola through it and its neighbours."""
    if index <= 0 or index >= len(profile) - 1:
        return float(index)
    left, centre, right = profile[index - 1], profile[index], profile[index + 1]
    curvature = left - 2 * centre + right
    return float(index) if curvature >= 0 else index + 0.5 * (left - right) / curvature


def half_maximum_run(row_values, peak_column):
    """Half-open columns [start, stop) of the run around peak_column where row_values >= half its value."""
    level = row_values[peak_column] / 2
    start = stop = peak_column
    while start > 0 and row_values[start - 1] >= level:
        start -= 1
    while stop < IMAGE_SIZE - 1 and row_values[stop + 1] >= level:
        stop += 1
    return int(start), int(stop) + 1


def mirror_span(start, stop):
    """The half-open columns covering [start, stop) and its mirror image about the midline."""
    return min(start, IMAGE_SIZE - stop), max(stop, IMAGE_SIZE - start)


def fisher_ratio(x, y):
    """(48, 48) between-class over within-class variance of each face's standardised pixels (0 mean, unit std)."""
    x = x.astype(np.float32)
    x = (x - x.mean(axis=(1, 2), keepdims=True)) / (x.std(axis=(1, 2), keepdims=True) + 1e-6)  # (N, 48, 48)
    class_means = np.stack([x[y == label].mean(axis=0) for label in range(NUM_CLASSES) if (y == label).any()])
    within = np.zeros(x.shape[1:], np.float64)
    for label in range(NUM_CLASSES):
        if (y == label).any():
            within += ((x[y == label] - x[y == label].mean(axis=0)) ** 2).sum(axis=0)
    return class_means.var(axis=0) / (within / len(x))


def brow_rows(x, eye_columns, eye_row):
    """Each face's brow row (NaN where none is found); see step 4 of the module docstring.

    Args:
        x: (N, 48, 48) faces.
        eye_columns: column indices averaged into each face's row profile.
        eye_row: the eye row of the mean face.
    Returns:
        (N,) float64 rows.
    """
    smoothed = ndimage.gaussian_filter(x.astype(np.float32), (0, FACE_SIGMA, FACE_SIGMA))
    profiles = smoothed[:, :, eye_columns].mean(axis=2)  # (N, 48): one row profile per face
    rows = np.full(len(x), np.nan)
    for index, profile in enumerate(profiles):
        minima, _ = signal.find_peaks(-profile, prominence=PROMINENCE)
        eyes = minima[np.abs(minima - eye_row) <= EYE_SEARCH]
        if not len(eyes):
            continue
        eye = eyes[np.argmin(profile[eyes])]
        brows = minima[(minima >= eye - BROW_SEARCH[1]) & (minima <= eye - BROW_SEARCH[0])]
        if len(brows):
            rows[index] = brows[np.argmin(profile[brows])]
    return rows


def measure(x, y):
    """Face-part boxes and the landmarks behind them, from faces of one framing.

    Args:
        x: (N, 48, 48) uint8 faces.
        y: (N,) class labels (0..6).
    Returns:
        (boxes, details): boxes {part: (row0, row1, col0, col1)} for brows, eyes, nose, mouth and face;
        details a dict of landmark rows, the share of faces with a brow found and the mirrored mean face.
    """
    mean = mirrored(faces.mean_face(x))  # (48, 48)
    dark = ndimage.gaussian_filter(mean, DARK_SIGMA) - mean  # (48, 48) dark-feature map D
    upper = dark[: IMAGE_SIZE // 2]
    eye_spot = np.unravel_index(np.argmax(upper), upper.shape)
    eye_column = min(eye_spot[1], IMAGE_SIZE - 1 - eye_spot[1])  # the left eye
    left_start, left_stop = half_maximum_run(dark[eye_spot[0]], eye_column)  # the left eye's columns
    eye_columns = mirror_span(left_start, left_stop)
    eye_side = np.r_[left_start:left_stop, IMAGE_SIZE - left_stop : IMAGE_SIZE - left_start]  # both eyes
    side_profile = dark[:, eye_side].mean(axis=1)  # (48,)
    eye_row = refined_peak(side_profile, int(np.argmax(side_profile[: IMAGE_SIZE // 2])))
    # the left eye's centre: the darkest column of the (lightly smoothed) mean face along the eye row, sub-pixel
    # (D's own peak is no good here: it merges the pupil with the shadow beside the nose bridge)
    eye_line = -ndimage.gaussian_filter(mean, EYE_SIGMA)[nearest(eye_row)]  # (48,), darkest highest
    eye_centre = refined_peak(eye_line, left_start + int(np.argmax(eye_line[left_start : IMAGE_SIZE // 2])))

    inner = np.r_[left_stop : IMAGE_SIZE - left_stop]  # the columns between the eyes
    centre_profile = dark[:, inner].mean(axis=1)  # (48,) between the eyes and below
    below = int(np.ceil(eye_row)) + EYE_SEARCH
    peaks, _ = signal.find_peaks(centre_profile[below:])
    if len(peaks) < 2:
        raise ValueError("found fewer than two dark rows (nostrils, lips) below the eyes of the mean face")
    nostril_index, lip_index = np.sort(peaks[np.argsort(centre_profile[below:][peaks])[-2:]] + below)
    nostril_row = refined_peak(centre_profile, nostril_index)
    lip_row = refined_peak(centre_profile, lip_index)

    brows = brow_rows(x, eye_side, nearest(eye_row))
    found = brows[~np.isnan(brows)].astype(int)
    if not len(found):
        raise ValueError("found no face with a brow above its eye; is the file made of faces?")
    brow_row = float(np.median(found))

    expression = mirrored(fisher_ratio(x, y))
    midline = expression[:, IMAGE_SIZE // 2 - 1 : IMAGE_SIZE // 2 + 1].mean(axis=1)  # (48,)
    lower = np.r_[nearest(lip_row) : IMAGE_SIZE]
    peak = lower[np.argmax(midline[lower])]
    mouth_bottom = peak
    while mouth_bottom < IMAGE_SIZE - 1 and midline[mouth_bottom + 1] >= midline[peak] / 2:
        mouth_bottom += 1

    brows_eyes, eyes_nose, nose_mouth = (nearest((brow_row + eye_row) / 2), nearest((eye_row + nostril_row) / 2),
                                         nearest((nostril_row + lip_row) / 2))
    brows_top = nearest(brow_row - (brows_eyes - brow_row))
    nose_columns, mouth_columns = (mirror_span(*half_maximum_run(dark[row], int(inner[np.argmax(dark[row, inner])])))
                                   for row in (nearest(nostril_row), nearest(lip_row)))
    cheeks = np.diff(mean[eyes_nose:nose_mouth].mean(axis=0))  # (47,) rise from each column to the next
    face_start = int(np.argmax(cheeks[: IMAGE_SIZE // 2])) + 1
    boxes = {
        "brows": (brows_top, brows_eyes) + eye_columns,
        "eyes": (brows_eyes, eyes_nose) + eye_columns,
        "nose": (eyes_nose, nose_mouth) + nose_columns,
        "mouth": (nose_mouth, int(mouth_bottom) + 1) + mouth_columns,
        "face": (0, IMAGE_SIZE, face_start, IMAGE_SIZE - face_start),
    }
    details = {"brow_row": brow_row, "eye_row": eye_row, "eye_columns": (eye_centre, IMAGE_SIZE - 1 - eye_centre), "nostril_row": nostril_row, "lip_row": lip_row,
               "brow_found": float(len(found) / len(x)), "brow_quartiles": np.percentile(found, [25, 50, 75]),
               "mean_face": mean}
    return boxes, details


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="labeled FER2013 faces, e.g. the course's train.csv.gz")
    parser.add_argument("--figure", help="save the boxes drawn on the mean face to this .png (not for committing)")
    args = parser.parse_args(argv)

    path = paths.resolve(args.path)
    dataset = data.load(path, progress=False)
    labeled = np.flatnonzero(dataset.y >= 0)
    if not len(labeled):
        sys.exit(f"{path}: no labeled faces (the Fisher ratio of step 5 needs the classes)")
    x, y = dataset.x[labeled, ..., 0], dataset.y[labeled]
    boxes, details = measure(x, y)
    print(f"{len(x)} faces of {path}")
    print(f"landmark rows: brows {details['brow_row']:.1f} (found in {details['brow_found']:.0%} of faces; "
          f"quartiles {', '.join(f'{value:g}' for value in details['brow_quartiles'])}), eyes "
          f"{details['eye_row']:.1f}, nostrils {details['nostril_row']:.1f}, lips {details['lip_row']:.1f}")
    left, right = details["eye_columns"]
    print(f"eye centres: columns {left:.1f} and {right:.1f} ({right - left:.1f} px apart; pixel centres 0..47)")
    print("{\n" + "".join(f"    {name!r}: {box},\n" for name, box in boxes.items()) + "}")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from fer_utils import plots

        figure = plots.regions_on_face(details["mean_face"], boxes, title=f"mean of {len(x)} faces, {path.name}")
        target = pathlib.Path(args.figure)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".png")
        os.close(handle)
        try:
            figure.savefig(temporary, dpi=120)
            os.replace(temporary, target)
        finally:
            pathlib.Path(temporary).unlink(missing_ok=True)
            plt.close(figure)
        print(f"figure: {target}")


if __name__ == "__main__":
    main()
