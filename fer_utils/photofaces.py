"""Your own faces: find the faces in ordinary photos, frame them as FER2013, classify and explain them, write it all.

``analyse`` reads the photos (``photos``), finds each face and its eyes (``detect``), aligns it to FER2013's
framing (``align``), predicts with a trained model's test-time augmentation and computes its Grad-CAM map;
``write`` puts, per photo, an annotated copy, per face the aligned crop with its Grad-CAM overlay and its
probabilities, and one ``faces.csv`` into the output folder, replaced as one unit (``atomic.Staging``).
"""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from fer_utils import CLASS_NAMES, align, atomic, detect, errors, paths, photos

#: The table ``write`` saves as ``CSV_NAME``: one row per face.
CSV_NAME = "faces.csv"
BOX_COLUMNS = ["box_x", "box_y", "box_width", "box_height"]
#: The file ``write`` saves each face's figure in (a column of the csv).
FIGURE_COLUMN = "figure"
LANDMARK_COLUMNS = [f"{name}_{axis}" for name in detect.LANDMARKS for axis in ("x", "y")]


@dataclasses.dataclass
class Analysis:
    """What ``analyse`` found.

    Attributes:
        table: one row per face: photo, face (1, 2, ... in reading order), box, confidence, landmarks, the seven
            probabilities, the label and the file ``write`` draws it in (columns ``columns()``).
        crops: (N, 48, 48) uint8 aligned faces, in the table's order.
        probabilities: (N, 7) float32.
        grad_cam: (N, 48, 48) Grad-CAM maps of the predicted class.
        photos: the photos read, in order (``photos.Photo``).
        no_face: paths of the photos where no face was found.
        skipped: (path, reason) of unreadable files passed over with ``skip_unreadable``.
    """

    table: pd.DataFrame
    crops: np.ndarray
    probabilities: np.ndarray
    grad_cam: np.ndarray
    photos: list
    no_face: list
    skipped: list

    def faces_of(self, photo):
        """The table's rows of one photo (a ``photos.Photo`` of ``self.photos``)."""
        return self.table[self.table["photo"] == str(photo.path)]


def columns():
    """The columns of ``Analysis.table`` and of ``faces.csv``, in order."""
    return ["photo", "face", *BOX_COLUMNS, "confidence", *LANDMARK_COLUMNS, *CLASS_NAMES, "label", FIGURE_COLUMN]


def analyse(inputs, model, tta="none", skip_unreadable=False, progress=True, min_confidence=detect.MIN_CONFIDENCE):
    """Find, align, classify and explain every face of the photos named by ``inputs``.

    Args:
        inputs: photo files and folders (``photos.photo_paths``), or already-read ``photos.Photo`` objects.
        model: a trained Keras model from 48x48 raw pixels to 7 probabilities (``runs.Run.load_model``).
        tta: test-time augmentation (``fer_utils.config.TTA_MODES``), e.g. the run's own (``runs.Run.tta``).
        skip_unreadable: pass over files that are not readable images (listed in ``Analysis.skipped``)
            instead of stopping.
        progress: a progress bar over the photos.
        min_confidence: faces the detector is less sure of are left out.
    Returns:
        An ``Analysis``.
    Raises:
        InputError: a missing path, or an unreadable file without ``skip_unreadable``.
    """
    from fer_utils import evaluate, saliency

    given = [item for item in inputs if isinstance(item, photos.Photo)]
    listed = photos.photo_paths([item for item in inputs if not isinstance(item, photos.Photo)]) \
        if len(given) < len(inputs) else []
    read, skipped, no_face, rows, crops = list(given), [], [], [], []
    for path in tqdm(listed, desc="reading photos", unit="photo", disable=not progress or len(listed) < 2):
        try:
            read.append(photos.read(path))
        except errors.UnreadablePhoto as error:
            if not skip_unreadable:
                raise
            skipped.append((path, error.reason))
    for photo in tqdm(read, desc="finding faces", unit="photo", disable=not progress or len(read) < 2):
        found = detect.find_faces(photo.pixels, min_confidence=min_confidence)
        if not found:
            no_face.append(photo.path)
        for number, face in enumerate(found, start=1):
            crops.append(align.aligned_face(photo.pixels, *face.eyes, face.mouth))
            rows.append([str(photo.path), number, *face.box, round(face.confidence, 4),
                         *(round(value, 2) for name in detect.LANDMARKS for value in face.landmarks[name])])
    crops = np.asarray(crops, np.uint8).reshape(-1, 48, 48)
    if len(crops):
        probabilities = evaluate.predict_probabilities(model, crops[..., None], tta=tta)
        cams = saliency.grad_cam(model, crops[..., None], target=probabilities.argmax(axis=1))
    else:
        probabilities, cams = np.zeros((0, len(CLASS_NAMES)), np.float32), np.zeros((0, 48, 48), np.float32)
    table = pd.DataFrame(rows, columns=columns()[: 2 + len(BOX_COLUMNS) + 1 + len(LANDMARK_COLUMNS)])
    for index, name in enumerate(CLASS_NAMES):
        table[name] = probabilities[:, index].round(4)
    table["label"] = [CLASS_NAMES[index] for index in probabilities.argmax(axis=1)] if len(crops) else []
    stems = dict(zip(map(str, (photo.path for photo in read)), _stems([photo.path for photo in read])))
    table[FIGURE_COLUMN] = [f"{stems[photo]}.face{face}.png" for photo, face in zip(table["photo"], table["face"])]
    return Analysis(table=table, crops=crops, probabilities=probabilities, grad_cam=np.asarray(cams), photos=read,
                    no_face=no_face, skipped=skipped)


def face_label(row):
    """The text over a face's box: its number, label and probability, e.g. "1 happy 0.83"."""
    return f"{row['face']} {row['label']} {row[row['label']]:.2f}"


def drawn(analysis, photo):
    """(pixels, boxes, labels) of one photo for ``plots.annotated_photo``."""
    rows = analysis.faces_of(photo)
    return photo.pixels, rows[BOX_COLUMNS].to_numpy(), [face_label(row) for _, row in rows.iterrows()]


def summary_lines(analysis):
    """One line per photo, as ``fer-workbook faces`` prints them (no face, or each face's label), then the skipped."""
    lines = []
    for photo in analysis.photos:
        rows = analysis.faces_of(photo)
        if rows.empty:
            lines.append(f"{photo.path.name}: no face found")
        else:
            found = ", ".join(f"face {row['face']} {row['label']} {row[row['label']]:.2f}" for _, row in rows.iterrows())
            lines.append(f"{photo.path.name}: {len(rows)} face{'s' if len(rows) > 1 else ''}: {found}")
    lines += [f"{path}: skipped, {reason}" for path, reason in analysis.skipped]
    return lines


def _stems(paths_):
    """A file-name stem per photo path, unique within the output even on a case-insensitive disk: the photo's own
    stem, or for a later photo of the same stem the stem with its folder's name, then a number, added."""
    taken, stems = set(), []
    for path in paths_:
        candidates = [path.stem, f"{path.stem}-{path.parent.name}"]
        candidates += [f"{path.stem}-{number}" for number in range(2, len(paths_) + 2)]
        stem = next(candidate for candidate in candidates if candidate.lower() not in taken)
        taken.add(stem.lower())
        stems.append(stem)
    return stems


def check_out(out):
    """The output folder as an absolute Path (symbolic links resolved): new, empty, or an earlier ``faces`` output.

    An earlier output holds only PNG files and a ``CSV_NAME`` whose header is ``columns()``: ``write`` replaces the
    folder whole, so it never takes a folder it did not make.

    Raises:
        InputError: ``out`` is a file, a folder with other contents, or in a folder that cannot be written.
    """
    out = Path(out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise errors.InputError(f"{out}: --out is a file; give a folder for the annotated photos and {CSV_NAME}")
    if out.is_dir():
        entries = list(out.iterdir())
        ours = (out / CSV_NAME).is_file() and all(entry.is_file() and (entry.name == CSV_NAME or entry.suffix == ".png")
                                                for entry in entries)
        if ours:
            with open(out / CSV_NAME, encoding="utf-8") as handle:
                ours = handle.readline().strip() == ",".join(columns())
        if entries and not ours:
            raise errors.InputError(f"{out}: --out is a folder with contents that `fer-workbook faces` did not write; "
                                    "it replaces its output folder whole, so give a new or empty folder")
    parent = next(folder for folder in out.parents if folder.exists())
    if not os.access(parent, os.W_OK):
        raise errors.InputError(f"{out}: --out cannot be written ({parent} is not writable)")
    return out


def write(analysis, out):
    """Write the annotated photos, the per-face figures and ``faces.csv`` into ``out``, replacing it as a unit.

    Files: ``<photo>.faces.png`` (the photo with a box and label on each face; a photo without a face gets no
    file, ``summary_lines`` names it), ``<photo>.face<k>.png`` (the aligned crop, its Grad-CAM overlay and the
    seven probabilities; the csv's ``figure`` column), ``faces.csv`` (``columns()``).

    Args:
        analysis: from ``analyse``.
        out: the output folder (``check_out``).
    Returns:
        The paths written, in ``out``.
    """
    import matplotlib.pyplot as plt

    from fer_utils import plots

    out = check_out(out)
    names = []
    with atomic.Staging(out.parent, out.name) as stage:
        staged = stage.path / out.name
        staged.mkdir()
        for photo in analysis.photos:
            rows = analysis.faces_of(photo)
            if rows.empty:
                continue
            stem = rows[FIGURE_COLUMN].iloc[0].rsplit(".face", 1)[0]
            drawings = [(f"{stem}.faces.png", lambda photo=photo: plots.annotated_photo(*drawn(analysis, photo)))]
            drawings += [(row[FIGURE_COLUMN], lambda index=index, row=row: plots.face_cards(
                analysis.crops[[index]], {"grad_cam": analysis.grad_cam[[index]]}, analysis.probabilities[[index]],
                [f"face {row['face']}"])) for index, row in rows.iterrows()]
            for name, draw in drawings:  # one figure open at a time
                figure = draw()
                with paths.atomic_write(staged / name, "wb") as handle:
                    handle.write(plots.png(figure))
                plt.close(figure)
                names.append(name)
        with paths.atomic_write(staged / CSV_NAME, "w", newline="") as handle:
            analysis.table.to_csv(handle, index=False)
        names.append(CSV_NAME)
        stage.commit()
    return [out / name for name in names]



#: The face parts a face's Grad-CAM is weighed over (``faces.FER2013_REGIONS``: the aligned crops are FER2013-framed).
PARTS = ("brows", "eyes", "nose", "mouth")


def default_photo_path():
    """NASA's portrait of astronaut Eileen Collins (public domain), which ships inside scikit-image
    (``skimage.data.astronaut``): the photo used when none is given."""
    from skimage import data

    return Path(data.__file__).parent / "astronaut.png"


def default_photos():
    """``default_photo_path`` read, as a one-item list of ``photos.Photo``."""
    return [photos.read(default_photo_path())]


def notebook_inputs(text):
    """Notebook 06's ``photos`` parameter: files and folders separated by ";", or "" for ``default_photos``."""
    given = [part.strip() for part in str(text).split(";") if part.strip()]
    return given or default_photos()


def face_summaries(analysis):
    """What each face's sentence says: {photo, face, label, probability, runner_up, runner_up_probability, parts,
    outside}.

    ``parts`` ranks the face parts (``PARTS``, boxes of ``faces.FER2013_REGIONS``: the aligned crops are framed as
    FER2013) by how densely the face's Grad-CAM map covers them: {part, share (of the map), density (the share
    divided by the part's share of the 48x48 frame; 1 = an even spread)}, densest first ([] for a map that is zero
    everywhere); ``outside`` is the share of the map outside all four boxes.
    """
    from fer_utils import faces, saliency

    regions = {name: faces.FER2013_REGIONS[name] for name in PARTS}
    shares = saliency.region_share(analysis.grad_cam, regions)  # (N, 4); the boxes do not overlap
    areas = np.array([(row1 - row0) * (col1 - col0) for row0, row1, col0, col1 in regions.values()]) / 48 ** 2
    summaries = []
    for index, row in analysis.table.iterrows():
        order = np.argsort(-analysis.probabilities[index])
        share = shares.iloc[index].to_numpy()
        parts = ([{"part": PARTS[part], "share": float(share[part]), "density": float(share[part] / areas[part])}
                  for part in np.argsort(-(share / areas), kind="stable")] if np.isfinite(share).all() else [])
        summaries.append({
            "photo": Path(row["photo"]).name, "face": int(row["face"]), "label": CLASS_NAMES[order[0]],
            "probability": float(analysis.probabilities[index, order[0]]), "runner_up": CLASS_NAMES[order[1]],
            "runner_up_probability": float(analysis.probabilities[index, order[1]]), "parts": parts,
            "outside": float(1 - share.sum()) if parts else float("nan")})
    return summaries


def is_default(analysis):
    """True when the photos are ``default_photos`` (the notebook's public-domain portrait)."""
    return [photo.path for photo in analysis.photos] == [default_photo_path()]


def shown(analysis, limit):
    """The rows of the first ``limit`` faces (in the table's order), as an index array for the figures."""
    return np.arange(min(limit, len(analysis.table)))


def explained(model, analysis, rows, smoothgrad_samples=50, seed=0):
    """{"grad_cam", "smoothgrad"}: each method's (len(rows), 48, 48) maps of the predicted class for the faces
    ``rows`` (SmoothGrad as Q4 computes it)."""
    from fer_utils import saliency

    crops, targets = analysis.crops[rows][..., None], analysis.probabilities[rows].argmax(axis=1)
    smooth = (saliency.smoothgrad(model, crops, target=targets, samples=smoothgrad_samples, seed=seed) if len(rows)
              else np.zeros((0, 48, 48), np.float32))
    return {"grad_cam": analysis.grad_cam[rows], "smoothgrad": smooth}


def face_titles(analysis, rows):
    """Row labels of the face figure: "<photo>\nface k"."""
    return [f"{Path(analysis.table.loc[row, 'photo']).stem[:12]}\nface {analysis.table.loc[row, 'face']}" for row in rows]
