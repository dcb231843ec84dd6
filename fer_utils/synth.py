"""Seeded synthetic FER2013-like faces drawn from facial action units (FACS/EMFACS, Ekman & Friesen)."""

# Each face is an identity (face shape, skin, hair, glasses, feature sizes) showing its class's EMFACS
# prototype (Friesen & Ekman, EMFACS-7, 1983; action units as in Ekman & Friesen, FACS, 1978) at a
# continuous intensity, plus small action-unit leakage, then textured, posed, lit, occluded, blurred,
# tone-mapped and noised by draws that never depend on the class. The nuisance ranges (exposure, contrast,
# tone curve, shading, grain) are as wide as FER2013's: with the narrow ranges of the first version, models
# trained on these faces did not recognise real ones (README, "How realistic is the synthetic set?").
# Rendering is vectorised over a batch: soft shapes are evaluated on a fixed canonical pixel grid, then
# each face is resampled through its inverse pose transform.

import contextlib
import functools
import gzip
import pathlib
from concurrent import futures

import numpy as np
from tqdm import tqdm

from fer_utils import CLASS_NAMES, IMAGE_SIZE, NUM_PIXELS, apportion, errors, paths, provenance

FER2013_CLASS_COUNTS = (4953, 547, 5121, 8989, 6077, 4002, 6198)  # full FER2013 (35,887) per class
FER2013_USAGE_COUNTS = {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
ACTION_UNITS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 15, 20, 23, 25, 26)  # AU23 stands for AU23/24 lip pressing

# EMFACS prototypes and their common variants: class -> {action unit: (relative strength, probability)}.
# A face shows each listed unit with that probability, so expressions vary between people and overlap.
CLASS_ACTION_UNITS = {
    "angry": {4: (1.0, 1.0), 7: (1.0, 0.8), 23: (1.0, 0.75), 5: (0.6, 0.3), 10: (0.7, 0.3), 25: (0.8, 0.25)},
    "disgust": {9: (1.0, 0.9), 10: (1.0, 0.9), 4: (0.6, 0.5), 7: (0.5, 0.2), 15: (0.6, 0.3), 25: (0.7, 0.4)},
    "fear": {1: (1.0, 0.9), 2: (0.8, 0.8), 4: (0.7, 0.75), 5: (1.0, 0.85), 20: (1.0, 0.8), 25: (1.0, 0.9),
             26: (0.6, 0.3)},
    "happy": {12: (1.0, 1.0), 6: (1.0, 0.8), 25: (1.0, 0.6), 26: (0.4, 0.15)},
    "sad": {1: (1.0, 0.85), 4: (0.8, 0.85), 15: (1.0, 0.85), 6: (0.5, 0.2), 7: (0.4, 0.15)},
    "surprise": {1: (1.0, 0.9), 2: (1.0, 0.9), 5: (1.0, 0.85), 26: (1.0, 0.85), 25: (1.0, 0.8)},
    "neutral": {},
}
# Expression intensity ~ Beta(a, b) per class: many faces are subtle, smiles tend to be broad.
INTENSITY_BETA = {"angry": (2.2, 1.2), "disgust": (2.2, 1.2), "fear": (2.2, 1.2), "happy": (3.0, 1.0),
                  "sad": (2.0, 1.3), "surprise": (2.6, 1.1), "neutral": (1.0, 1.0)}
LEAKAGE_PROBABILITY, LEAKAGE_MAX = 0.2, 0.35  # stray action units in any face, neutral included

#: Face regions of the canonical (unposed) face, as (row0, row1, col0, col1) half-open pixel ranges.
AU_REGIONS = {
    "brows": (9, 16, 8, 40),
    "eyes": (16, 23, 8, 40),
    "nose": (23, 33, 19, 29),
    "mouth": (33, 45, 11, 37),
    "face": (0, 48, 3, 45),
}

BATCH_SIZE = 512  # faces rendered per numpy batch; the output does not depend on it
NOISE_BANK_SIZE = 64  # seeded 48x48 noise fields, reused with random shifts and signs
_CENTER = (IMAGE_SIZE - 1) / 2  # 23.5: column of the face's midline
_ROWS, _COLS = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32)  # (48, 48) each
_ROWS, _COLS = _ROWS[None], _COLS[None]  # (1, 48, 48): broadcast against per-face (B, 1, 1) values
_SIDE = np.abs(_COLS - _CENTER)  # (1, 48, 48) distance from the midline, for mirror-symmetric parts
# Canonical rows each face part can reach over the parameter ranges (parts are evaluated only there).
_BANDS = {"brows": (2, 27), "eyes": (9, 31), "nose": (15, 38), "mouth": (22, 48)}


def _soft(distance):
    """Antialiased inside-ness (0..1) of a signed distance in pixels (positive inside)."""
    inside = distance + 0.5
    return np.minimum(np.maximum(inside, 0.0, out=inside), 1.0, out=inside)


def _between(values, low, high):
    """Antialiased indicator of low <= values <= high (broadcast)."""
    return _soft(values - low) * _soft(high - values)


def _gauss(offset, width):
    """Gaussian bump exp(-(offset / width)^2): soft lines and blobs."""
    return np.exp(-((offset / width) ** 2))


def _paint(canvas, alpha, tone):
    """Alpha-blend ``tone`` into ``canvas`` in place (all broadcast to (B, H, W))."""
    canvas += alpha * (tone - canvas)


def _class_counts(n):
    """Per-class counts for n faces in FER2013 proportions (largest remainder, every class at least 1)."""
    return apportion.largest_remainder(FER2013_CLASS_COUNTS, n, at_least_one=True)


def _sample_params(labels, rng):
    """Draw every per-face parameter (identity, expression, pose, nuisance) for the given labels.

    Args:
        labels: (n,) int64 class indices.
        rng: a numpy Generator; all draws are vectorised over the n faces.
    Returns:
        A dict of (n,) float64 arrays (plus "label").
    """
    n = len(labels)
    normal, uniform = rng.normal, rng.uniform

    def chance(probability):
        return (uniform(size=n) < probability).astype(np.float64)

    p = {"label": labels}
    # Expression: one intensity per face, each unit of the prototype shown by chance and varied around it.
    shape = np.array([INTENSITY_BETA[name] for name in CLASS_NAMES])[labels]  # (n, 2)
    p["intensity"] = np.where(labels == CLASS_NAMES.index("neutral"), 0.0, rng.beta(shape[:, 0], shape[:, 1]))
    for unit in ACTION_UNITS:
        strength = np.zeros(n)
        for class_index, name in enumerate(CLASS_NAMES):
            relative, probability = CLASS_ACTION_UNITS[name].get(unit, (0.0, 0.0))
            strength += (labels == class_index) * relative * (uniform(size=n) < probability)
        strength *= p["intensity"] * uniform(0.6, 1.2, size=n)
        leakage = chance(LEAKAGE_PROBABILITY) * uniform(0.0, LEAKAGE_MAX, size=n)
        leakage += np.abs(normal(0.0, 0.05, size=n))
        p[f"au{unit}"] = np.clip(strength + leakage, 0.0, 1.3)
    # Identity: geometry in canonical pixels, tones in gray levels.
    p["face_center_row"] = np.clip(normal(26.1, 0.6, n), 24.6, 27.6)
    p["face_half_width"] = np.clip(normal(21.5, 1.5, n), 18.0, 25.0)
    p["face_half_height"] = np.clip(normal(25.3, 1.2, n), 23.0, 28.0)
    p["chin_taper"] = uniform(0.15, 0.4, n)
    p["skin_tone"] = uniform(90, 235, n)
    p["hair_tone"] = np.where(chance(0.15), uniform(120, 200, n), uniform(10, 110, n))
    p["hair_density"] = np.where(chance(0.08), 0.0, uniform(0.75, 1.0, n))
    p["hairline_row"] = uniform(-3.0, 9.0, n)
    p["hair_volume"] = uniform(0.5, 4.0, n)
    p["hair_length_row"] = uniform(18, 52, n)
    p["eye_row"] = p["face_center_row"] - 7.3 + np.clip(normal(0, 0.5, n), -1.2, 1.2)
    p["eye_spacing"] = np.clip(0.5 * p["face_half_width"] + normal(0, 0.4, n), 7.5, 11.0)
    p["eye_half_width"] = np.clip(normal(4.3, 0.25, n), 3.6, 5.0)
    p["eye_upper"] = np.clip(normal(1.8, 0.2, n), 1.3, 2.3)
    p["eye_lower"] = np.clip(normal(1.3, 0.15, n), 0.9, 1.7)
    p["iris_radius"] = uniform(1.8, 2.4, n)
    p["iris_tone"] = uniform(15, 80, n)
    p["gaze"] = np.clip(normal(0, 0.4, n), -0.9, 0.9)
    p["brow_gap"] = np.clip(normal(5.2, 0.4, n), 4.1, 6.3)
    p["brow_thickness"] = uniform(1.8, 3.0, n)
    p["brow_arch"] = uniform(0.3, 1.2, n)
    p["brow_slant"] = np.clip(normal(0, 0.4, n), -1.2, 1.2)  # resting tilt: inner end up (+) or down (-)
    p["brow_density"] = uniform(0.8, 1.0, n)
    p["nose_row"] = p["eye_row"] + np.clip(normal(11.2, 0.5, n), 10.0, 12.4)
    p["nostril_spacing"] = np.clip(normal(2.85, 0.25, n), 2.2, 3.5)
    p["mouth_row"] = p["nose_row"] + np.clip(normal(7.8, 0.5, n), 6.7, 8.9)
    p["mouth_half_width"] = np.clip(normal(8.2, 0.5, n), 7.0, 9.5)
    p["upper_lip"] = uniform(1.0, 1.6, n)
    p["lower_lip"] = uniform(1.4, 2.4, n)
    p["lip_darkness"] = uniform(0.2, 0.5, n)
    p["mouth_curve"] = np.clip(normal(0, 0.35, n), -1.0, 1.0)  # resting corner height: up (+) or down (-)
    p["feature_dark"] = uniform(0.2, 0.5, n)  # tone of brows and lid lines as a share of the skin's
    p["socket_depth"] = uniform(0.25, 0.55, n)  # darkening of the eye sockets under the brow ridge
    p["sclera_tone"] = uniform(0.85, 1.2, n)  # eye whites relative to the skin (they read dim at 48 px)
    p["roundness"] = uniform(0.2, 0.6, n)  # darkening towards the face outline
    p["head_texture"] = uniform(0, 10, n)  # smooth blotches on skin, hair and clothes, in gray levels
    p["head_grain"] = uniform(0, 8, n)  # fine (1 px) grain: pores, stubble, JPEG blocks
    p["glasses"] = chance(0.12)
    p["glasses_tone"] = uniform(5, 90, n)
    # Pose, scene and camera: independent of the class.
    p["rotation"] = np.deg2rad(np.clip(normal(0, 2.5, n), -8, 8))
    p["scale"] = np.clip(normal(1.0, 0.03, n), 0.92, 1.08)
    p["shift_row"] = np.clip(normal(0, 0.5, n), -1.5, 1.5)
    p["shift_col"] = np.clip(normal(0, 0.5, n), -1.5, 1.5)
    p["yaw"] = np.clip(normal(0, 0.4, n), -1.2, 1.2)  # interior shift in pixels (head turn)
    p["background_tone"] = uniform(20, 235, n)
    p["background_texture"] = uniform(0, 8, n)
    p["clothes_tone"] = uniform(10, 230, n)
    p["light_angle"] = uniform(0, 2 * np.pi, n)
    p["light_strength"] = uniform(0, 0.5, n)
    p["contrast"] = np.exp(uniform(np.log(0.7), np.log(1.6), n))
    p["brightness"] = normal(0, 18, n)
    p["blur_sigma"] = uniform(0.05, 1.2, n)
    p["noise_sigma"] = uniform(1, 6, n)
    p["gamma"] = np.exp(uniform(np.log(0.6), np.log(1.6), n))  # the camera's tone curve
    p["occlusion"] = np.where(chance(0.05), 1 + chance(0.4), 0)  # 0 none, 1 blob (hand), 2 bar
    p["occlusion_row"] = uniform(8, 44, n)
    p["occlusion_col"] = uniform(6, 42, n)
    p["occlusion_size"] = uniform(4, 10, n)
    p["occlusion_angle"] = uniform(0, np.pi, n)
    p["occlusion_tone"] = uniform(20, 230, n)
    for name in ("noise_index", "noise_shift_row", "noise_shift_col", "texture_index"):
        p[name] = rng.integers(0, NOISE_BANK_SIZE if "index" in name else IMAGE_SIZE, size=n)
    p["noise_sign"] = np.where(chance(0.5), 1.0, -1.0)
    return p


def _head(p):
    """Canonical (unposed) head over a transparent background.

    Args:
        p: dict of per-face parameters, each shaped (B, 1, 1) float32.
    Returns:
        (gray, alpha): the head's gray levels and coverage, each (B, 48, 48) float32.
    """
    rows, side = _ROWS, _SIDE  # (1, 48, 48) each
    skin, width, height = p["skin_tone"], p["face_half_width"], p["face_half_height"]
    center = p["face_center_row"]
    gray = np.zeros(np.broadcast_shapes(skin.shape, rows.shape), np.float32)  # (B, 48, 48)
    alpha = np.zeros_like(gray)
    clothes = _soft(rows - 56.0 + 0.03 * side**2)
    neck = _soft(0.62 * width - side) * _soft(rows - center)
    vertical = (rows - center) / height  # -1 at the top of the face, +1 at the chin
    taper = 1.0 - p["chin_taper"] * np.maximum(vertical, 0.0)
    radius = np.sqrt((side / (width * taper)) ** 2 + vertical**2)  # 1 on the face outline
    face = _soft((1.0 - radius) * width)
    volume = p["hair_volume"]
    hair_radius = np.sqrt((side / (width + volume)) ** 2 + ((rows - center + 1.0) / (height + volume)) ** 2)
    hair_shape = _soft((1.0 - hair_radius) * (width + volume))
    hair_back = p["hair_density"] * hair_shape * _soft(p["hair_length_row"] - rows)
    hairline = p["hairline_row"] + 9.0 * (side / width) ** 3  # lower at the temples
    hair_front = p["hair_density"] * hair_shape * _soft(hairline - rows)
    shading = 1.0 - p["roundness"] * np.minimum(radius, 1.2) ** 4  # rounder look: darker towards the outline
    for layer, tone in ((clothes, p["clothes_tone"]), (neck, 0.78 * skin), (hair_back, p["hair_tone"]),
                        (face, skin * shading), (hair_front, p["hair_tone"])):
        _paint(gray, layer, tone)
        np.maximum(alpha, layer, out=alpha)
    bare_skin = face * (1.0 - hair_front)  # where wrinkles may show
    au = {unit: p[f"au{unit}"] for unit in ACTION_UNITS}  # (B, 1, 1) strengths, 0 = absent, 1 = full
    for part in (_brows, _eyes, _nose, _mouth):
        start, stop = _BANDS[part.__name__[1:]]  # evaluate each part only on the rows it can reach
        part(gray[:, start:stop], bare_skin[:, start:stop], _ROWS[:, start:stop], _COLS[:, start:stop],
             _SIDE[:, start:stop], p, au)
    return gray, alpha


def _brows(canvas, bare_skin, rows, cols, side, p, au):
    """Brows and forehead (AU1 raises the inner ends, AU2 the outer, AU4 lowers and draws them together)."""
    skin, eye_row = p["skin_tone"], p["eye_row"]
    inner = p["eye_spacing"] - p["eye_half_width"] - 0.3 - 1.5 * au[4]  # distance from the midline
    outer = p["eye_spacing"] + p["eye_half_width"] + 1.3
    brow_row = eye_row - p["brow_gap"]
    inner_row = brow_row - p["brow_slant"] - 3.2 * au[1] + 2.8 * au[4] + 0.8 * au[9]
    outer_row = brow_row + 0.3 - 3.0 * au[2] - 0.5 * au[1] + 0.9 * au[4]
    arch = p["brow_arch"] + 0.8 * au[2] + 0.4 * au[1] - 0.4 * au[4]
    length = outer - inner
    along = (side - inner) / length  # 0 at the inner end, 1 at the outer end
    brow_center = inner_row + (outer_row - inner_row) * along - 4.0 * arch * along * (1.0 - along)
    thickness = (p["brow_thickness"] + 0.8 * au[4]) * (1.15 - 0.4 * along)
    brow = _soft(thickness / 2 - np.abs(rows - brow_center)) * _between(along * length, 0.0, length)
    _paint(canvas, p["brow_density"] * brow, np.minimum(p["hair_tone"], p["feature_dark"] * skin))
    # AU4 vertical furrows between the brows, AU1/AU2 horizontal lines across the forehead.
    furrow = _gauss(side - 1.3, 0.6) * _between(rows, inner_row - 0.5, inner_row + 3.5)
    glabella = _gauss(side, 2.5) * _gauss(rows - inner_row - 1.0, 2.0)  # shadow between lowered brows
    forehead = (_gauss(rows - brow_row + 3.4, 0.55) + _gauss(rows - brow_row + 5.6, 0.55)) * _soft(9.0 - side)
    wrinkles = au[4] * (0.7 * furrow + 0.35 * glabella) + 0.45 * np.maximum(au[1], au[2]) * forehead
    _paint(canvas, wrinkles * bare_skin, 0.55 * skin)


def _eyes(canvas, bare_skin, rows, cols, side, p, au):
    """Eyes, cheeks, glasses (AU5 widens the eyes, AU6 and AU7 narrow them from below, AU6 lifts cheeks)."""
    skin, eye_row, spacing, half_width = p["skin_tone"], p["eye_row"], p["eye_spacing"], p["eye_half_width"]
    socket = _gauss(side - spacing, 4.5) * _gauss(rows - eye_row + 0.8, 2.6)
    canvas *= 1.0 - p["socket_depth"] * socket * bare_skin  # shadow under the brow ridge
    across = (side - spacing) / half_width  # -1..1 over each eye
    lid_profile = np.sqrt(np.maximum(1.0 - across**2, 0.0))
    upper = np.maximum(p["eye_upper"] + 1.8 * au[5] - 0.35 * au[4] - 0.45 * au[7] - 0.2 * au[6], 0.3)
    lower = np.maximum(p["eye_lower"] - 0.6 * au[7] - 0.5 * au[6], 0.2)
    top, bottom = eye_row - upper * lid_profile, eye_row + lower * lid_profile
    aperture = _between(rows, top, bottom) * _soft((1.0 - np.abs(across)) * half_width)
    _paint(canvas, aperture, np.minimum(p["sclera_tone"] * skin, 235.0))
    gaze_col = cols - _CENTER - p["gaze"]
    iris_col = np.minimum(np.abs(gaze_col + spacing), np.abs(gaze_col - spacing))
    iris_distance = np.sqrt(iris_col**2 + (rows - eye_row - 0.2) ** 2)
    _paint(canvas, aperture * _soft(p["iris_radius"] - iris_distance), p["iris_tone"])
    lid_window = _soft((1.15 - np.abs(across)) * half_width)
    upper_lid = 0.9 * _gauss(rows - top + 0.2, 0.9) * lid_window
    lower_lid = _gauss(rows - bottom - 0.2, 0.5) * lid_window
    _paint(canvas, upper_lid, np.minimum(p["iris_tone"], 0.75 * p["feature_dark"] * skin))
    _paint(canvas, (0.2 + 0.5 * np.minimum(au[6] + au[7], 1.0)) * lower_lid, 0.6 * skin)
    cheek = _gauss(side - spacing - 0.5, 3.5) * _gauss(rows - eye_row - 4.5 + au[6], 2.0)
    _paint(canvas, 0.7 * au[6] * cheek, np.minimum(1.25 * skin, 250.0))
    rim_width, rim_height = half_width + 1.8, 3.2  # glasses: two rims, a bridge and the temples
    rim = np.sqrt(((side - spacing) / rim_width) ** 2 + ((rows - eye_row - 0.3) / rim_height) ** 2)
    frame = _soft(0.5 - np.abs(rim - 1.0) * rim_height)
    frame += _soft(0.45 - np.abs(rows - eye_row + 0.5)) * _soft(spacing - rim_width + 0.3 - side)
    temple = _soft(side - spacing - rim_width + 0.3) * _soft(p["face_half_width"] - side)
    frame += _soft(0.45 - np.abs(rows - eye_row + 0.8)) * temple
    _paint(canvas, p["glasses"] * np.minimum(frame, 1.0), p["glasses_tone"])


def _nose(canvas, bare_skin, rows, cols, side, p, au):
    """Nose (AU9 wrinkles the bridge and lifts and flares the nostrils; AU10 lifts them a little)."""
    skin, eye_row = p["skin_tone"], p["eye_row"]
    nostril_row = p["nose_row"] - 0.9 * au[9] - 0.3 * au[10]
    flare = 1.0 + 0.5 * au[9]
    nostril = np.sqrt(((side - p["nostril_spacing"]) / flare) ** 2 + ((rows - nostril_row) / 0.65) ** 2)
    _paint(canvas, 0.55 * _soft((1.0 - nostril) * 0.8), 0.35 * skin)
    bridge = _gauss(side - 2.0, 0.8) * _between(rows, eye_row + 1.0, nostril_row - 1.0)
    tip_shadow = _gauss(rows - nostril_row - 1.2, 0.8) * _soft(3.5 - side)
    wrinkles = (_gauss(rows - eye_row - 1.8, 0.5) + _gauss(rows - eye_row - 3.6, 0.5)) * _soft(2.8 - side)
    bunching = _gauss(side, 3.0) * _gauss(rows - eye_row - 2.7, 2.2)  # skin bunched on the bridge
    _paint(canvas, 0.12 * bridge + 0.15 * tip_shadow + au[9] * (0.8 * wrinkles + 0.3 * bunching), 0.5 * skin)


def _mouth(canvas, bare_skin, rows, cols, side, p, au):
    """Mouth and nasolabial folds (AU12 pulls the corners up and out, AU15 down, AU20 stretches the lips,
    AU23 presses and narrows them, AU10 lifts the upper lip, AU25 parts the lips, AU26 drops the jaw)."""
    skin = p["skin_tone"]
    width = np.maximum(p["mouth_half_width"] + 2.0 * au[12] + 2.5 * au[20] - 1.6 * au[23] - 0.8 * au[26], 3.5)
    corner = 4.0 * au[12] - 3.5 * au[15] - 0.4 * au[20] + p["mouth_curve"]  # corners above the centre
    across = side / width  # 0 at the midline, 1 at the corners
    profile = np.sqrt(np.maximum(1.0 - across**2, 0.0))
    middle = p["mouth_row"] - corner * across**2
    upper_inner = middle - (1.0 * au[25] + 1.4 * au[10] + 0.3 * au[26]) * profile
    lower_inner = middle + (1.1 * au[25] + 4.5 * au[26] + 0.4 * au[20]) * profile
    lip_scale = np.clip(1.0 - 0.7 * au[23] - 0.3 * au[20] - 0.1 * au[12], 0.25, 1.0)
    upper_outer = upper_inner - p["upper_lip"] * lip_scale * profile
    lower_outer = lower_inner + p["lower_lip"] * lip_scale * profile
    inside = _soft((1.0 - across) * width)
    lips = _between(rows, upper_outer, upper_inner) + _between(rows, lower_inner, lower_outer)
    _paint(canvas, inside * lips, skin * (1.0 - p["lip_darkness"]))
    opening = inside * _between(rows, upper_inner, lower_inner)
    _paint(canvas, opening, 25.0)
    teeth = np.clip(2.0 * (au[12] + au[10] + au[20]) - 0.2, 0.0, 0.9) * _soft(upper_inner + 1.8 - rows)
    _paint(canvas, teeth * opening, 215.0)
    lip_line = (0.75 + 0.25 * au[23]) * _gauss(rows - middle, 1.0) * _soft((1.1 - across) * width)
    _paint(canvas, lip_line, 0.35 * skin)
    fold_top = p["nose_row"] - 0.9 * au[9] - 0.3 * au[10] - 0.5  # from the nostrils past the mouth corners
    down = (rows - fold_top) / (p["mouth_row"] + 1.5 - fold_top)  # 0..1 along the fold
    start = p["nostril_spacing"] + 1.8
    fold_side = start + (width + 1.3 - start) * down + 3.2 * down * (1 - down)  # bowed outwards
    fold = _gauss(side - fold_side, 0.6) * _between(down * 6.0, 0.0, 6.0)
    deepen = np.maximum(np.maximum(au[9], au[10]), np.maximum(0.8 * au[12], 0.3 * au[6]))
    _paint(canvas, (0.06 + 0.5 * deepen) * fold, 0.55 * skin)


def _pose(images, p):
    """Resample canonical images through each face's inverse pose (rotation, scale, shift, yaw), bilinearly.

    Args:
        images: list of (B, 48, 48) float32 canonical images.
        p: per-face parameters, (B, 1, 1) each.
    Returns:
        The list of posed (B, 48, 48) images.
    """
    center_row = 25.0
    out_row = _ROWS - center_row - p["shift_row"]  # (B, 48, 48) output coordinates about the pose centre
    out_col = _COLS - _CENTER - p["shift_col"]
    cos, sin = np.cos(p["rotation"]), np.sin(p["rotation"])
    source_col = (cos * out_col + sin * out_row) / p["scale"]
    source_row = (cos * out_row - sin * out_col) / p["scale"]
    source_col -= p["yaw"] * np.maximum(1.0 - (source_col / p["face_half_width"]) ** 2, 0.0)  # head turn
    source_row = np.clip(source_row + center_row, 0.0, IMAGE_SIZE - 1.0)
    source_col = np.clip(source_col + _CENTER, 0.0, IMAGE_SIZE - 1.0)
    row0 = np.minimum(source_row.astype(np.int32), IMAGE_SIZE - 2)  # top-left neighbour
    col0 = np.minimum(source_col.astype(np.int32), IMAGE_SIZE - 2)
    row_weight, col_weight = source_row - row0, source_col - col0
    face_offset = np.arange(len(source_row), dtype=np.int32)[:, None, None] * NUM_PIXELS
    index = face_offset + row0 * IMAGE_SIZE + col0  # (B, 48, 48) into the flattened batch
    posed = []
    for image in images:
        flat = image.reshape(-1)
        top_left, top_right = flat[index], flat[index + 1]
        bottom_left, bottom_right = flat[index + IMAGE_SIZE], flat[index + IMAGE_SIZE + 1]
        top = top_left + col_weight * (top_right - top_left)
        bottom = bottom_left + col_weight * (bottom_right - bottom_left)
        posed.append(top + row_weight * (bottom - top))
    return posed


def _bank_sample(bank, index, shift_row, shift_col):
    """Per-face fields (B, 48, 48) cut from a (K, 48, 48) bank, circularly shifted."""
    row = (np.arange(IMAGE_SIZE)[None, :, None] + shift_row[:, None, None]) % IMAGE_SIZE  # (B, 48, 1)
    col = (np.arange(IMAGE_SIZE)[None, None, :] + shift_col[:, None, None]) % IMAGE_SIZE  # (B, 1, 48)
    return bank[index[:, None, None], row, col]


def _gaussian_matrices(sigma):
    """Row-normalised Gaussian blur matrices (B, 48, 48), one per sigma in (B,)."""
    offset = np.arange(IMAGE_SIZE, dtype=np.float32)
    weights = np.exp(-((offset[:, None] - offset[None, :]) ** 2)[None] / (2.0 * sigma[:, None, None] ** 2))
    return weights / weights.sum(axis=2, keepdims=True)


@functools.lru_cache(maxsize=4)
def _noise_banks(seed):
    """Seeded (white, smooth, fine) noise banks, each (NOISE_BANK_SIZE, 48, 48) float32 with unit spread.

    smooth is white noise blurred with sigma 3 px (blotches, background), fine with sigma 1 px (grain).
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    white = rng.standard_normal((3, NOISE_BANK_SIZE, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    banks = [white[0]]
    for field, sigma in ((white[1], 3.0), (white[2], 1.0)):
        blur = _gaussian_matrices(np.full(NOISE_BANK_SIZE, sigma, np.float32))
        blurred = blur @ field @ blur.transpose(0, 2, 1)
        banks.append(blurred / blurred.std(axis=(1, 2), keepdims=True))
    return tuple(banks)


def render(params, seed=0):
    """Render faces from their parameters; a pure per-face function, so batching never changes pixels.

    Args:
        params: dict of (B,) arrays as returned by ``generate_with_params`` (or a slice or edit of it).
        seed: the seed the parameters came from (it also picks the pixel-noise fields).
    Returns:
        (B, 48, 48) uint8 images.
    """
    integer_names = ("label", "noise_index", "noise_shift_row", "noise_shift_col", "texture_index")
    p = {name: np.asarray(value, np.float32)[:, None, None]  # (B, 1, 1) each, broadcast over pixels
         for name, value in params.items() if name not in integer_names}
    white, smooth, fine = _noise_banks(seed)
    gray, alpha = _head(p)  # (B, 48, 48) each, canonical frame
    gray, alpha = _pose([gray, alpha], p)
    shifts = params["noise_shift_col"], params["noise_shift_row"]  # swapped: texture and noise do not align
    texture = _bank_sample(smooth, params["texture_index"], *shifts)
    head_texture = _bank_sample(smooth, params["noise_index"], params["noise_shift_row"], params["noise_shift_col"])
    grain = _bank_sample(fine, params["texture_index"], params["noise_shift_row"], params["noise_shift_col"])
    gray = gray + p["head_texture"] * head_texture + p["head_grain"] * grain
    image = alpha * gray + (1.0 - alpha) * (p["background_tone"] + p["background_texture"] * texture)
    angle = p["light_angle"]
    gradient = (np.cos(angle) * (_COLS - _CENTER) + np.sin(angle) * (_ROWS - _CENTER)) / IMAGE_SIZE * 2.0
    image *= 1.0 + p["light_strength"] * gradient
    # Occlusion: 1 = a skin- or object-toned blob (a hand), 2 = a bar; anywhere on the picture.
    row, col = _ROWS - p["occlusion_row"], _COLS - p["occlusion_col"]
    cos, sin = np.cos(p["occlusion_angle"]), np.sin(p["occlusion_angle"])
    along, across = cos * col + sin * row, -sin * col + cos * row
    size = p["occlusion_size"]
    blob = _soft((1.0 - np.sqrt((along / (1.4 * size)) ** 2 + (across / size) ** 2)) * size)
    bar = _soft(0.35 * size - np.abs(across))
    occluder = np.where(p["occlusion"] == 1, blob, 0.0) + np.where(p["occlusion"] == 2, bar, 0.0)
    _paint(image, occluder, p["occlusion_tone"])
    blur = _gaussian_matrices(np.asarray(params["blur_sigma"], np.float32))
    image = blur @ image @ blur.transpose(0, 2, 1)
    image = 255.0 * (np.clip(image, 0.0, 255.0) / 255.0) ** p["gamma"]  # tone curve, then exposure
    image = (image - 128.0) * p["contrast"] + 128.0 + p["brightness"]
    noise = _bank_sample(white, params["noise_index"], params["noise_shift_row"], params["noise_shift_col"])
    image += p["noise_sigma"] * p["noise_sign"] * noise
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _check(n, seed):
    """Raise ValueError for a face count below the class count or a negative seed."""
    if int(n) != n or n < len(CLASS_NAMES):
        raise ValueError(f"n must be an integer >= {len(CLASS_NAMES)} (one face per class), got {n!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def generate_with_params(n, seed=0, *, batch_size=BATCH_SIZE, progress=False, workers=2):
    """Generate n synthetic faces and return the parameters that drew them.

    Args:
        n: number of faces (>= 7); classes follow FER2013 proportions, every class at least once.
        seed: non-negative integer; the same (n, seed) gives bit-identical output.
        batch_size: faces per numpy batch (memory only: the pixels do not depend on it).
        progress: show a tqdm bar on stderr.
        workers: threads rendering batches in parallel (numpy releases the GIL); output does not depend on it.
    Returns:
        (x, y, params): x (n, 48, 48) uint8, y (n,) int64 in shuffled order, params a dict of (n,) arrays
        with "intensity" (0 for neutral), "au1" ... "au26" strengths and every identity, pose and
        nuisance draw.
    Raises:
        ValueError: n < 7, a negative seed, or batch_size < 1.
    """
    _check(n, seed)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    n, seed = int(n), int(seed)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    labels = rng.permutation(np.repeat(np.arange(len(CLASS_NAMES)), _class_counts(n))).astype(np.int64)
    params = _sample_params(labels, rng)
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), np.uint8)

    def render_batch(start):
        stop = min(start + batch_size, n)
        images[start:stop] = render({name: value[start:stop] for name, value in params.items()}, seed)
        return stop - start

    starts = range(0, n, batch_size)
    with tqdm(total=n, desc="synthetic faces", unit="face", disable=not progress) as bar, \
            futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for count in pool.map(render_batch, starts):
            bar.update(count)
    return images, labels, params


def generate(n, seed=0, *, progress=True):
    """Generate n synthetic 48x48 grayscale faces in FER2013 class proportions.

    Args:
        n: number of faces (>= 7).
        seed: non-negative integer; the same (n, seed) gives bit-identical output.
        progress: show a tqdm bar on stderr (only drawn for large n).
    Returns:
        (x, y): x (n, 48, 48) uint8, y (n,) int64 class indices (CLASS_NAMES order), shuffled.
    Raises:
        ValueError: n < 7 or a negative seed.
    """
    images, labels, _ = generate_with_params(n, seed, progress=progress and n >= 5000)
    return images, labels


def usage_split(labels, seed=0):
    """Split faces into Training/PublicTest/PrivateTest in FER2013 proportions, stratified by class.

    Args:
        labels: (n,) class indices.
        seed: non-negative integer for the within-class shuffle.
    Returns:
        (n,) array of usage names; the totals are FER2013_USAGE_COUNTS scaled to n (largest remainder).
    """
    labels = np.asarray(labels)
    names = list(FER2013_USAGE_COUNTS)
    totals = apportion.largest_remainder(list(FER2013_USAGE_COUNTS.values()), len(labels))  # (3,) per usage
    # Interleave the usages evenly, then hand out consecutive stretches class by class: each class gets
    # each usage in proportion (within one face), and the totals are exact.
    positions = np.concatenate([(np.arange(total) + 0.5) / total for total in totals])
    sequence = np.concatenate([np.full(total, index) for index, total in enumerate(totals)])
    sequence = sequence[np.argsort(positions, kind="stable")]
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
    order = np.lexsort((rng.permutation(len(labels)), labels))  # by class, shuffled within class
    usage = np.empty(len(labels), dtype=object)
    usage[order] = np.asarray(names, dtype=object)[sequence]
    return usage


_TOKENS = np.zeros((256, 4), np.uint8)  # (256, 4) ASCII of "v " for each byte value v, zero-padded
_TOKEN_LENGTHS = np.zeros(256, np.int64)
for _value in range(256):
    _token = f"{_value} ".encode()
    _TOKENS[_value, : len(_token)] = list(_token)
    _TOKEN_LENGTHS[_value] = len(_token)
_TOKEN_KEEP = np.arange(4)[None, :] < _TOKEN_LENGTHS[:, None]  # (256, 4) which bytes are real


def _format_rows(images, labels, usages):
    """Kaggle csv lines ``emotion,pixels,Usage`` for a chunk of images (B, 48, 48), as one bytes object."""
    flat = images.reshape(len(images), NUM_PIXELS)  # (B, 2304) uint8
    text = _TOKENS[flat][_TOKEN_KEEP[flat]].tobytes()  # every pixel as "v ", rows back to back
    ends = np.cumsum(_TOKEN_LENGTHS[flat].sum(axis=1))  # (B,) end of each row's text
    starts = np.concatenate([[0], ends[:-1]])
    rows = zip(labels.tolist(), usages, starts.tolist(), ends.tolist())
    return b"".join(b"%d,%s,%s\n" % (label, text[start : end - 1], usage.encode())
                    for label, usage, start, end in rows)


def write_csv(path=None, n=35887, seed=0, *, progress=True):
    """Write n synthetic faces as a Kaggle ``fer2013.csv`` (gzip-compressed when the name ends in .gz).

    Rows come in the Kaggle file's order: Training, then PublicTest, then PrivateTest, each in the shuffled
    order of ``generate(n, seed)``. The file is written to a temporary name and moved into place; a sidecar
    ``<name>.origin.json`` (``provenance.record_synthetic``) then records generator, seed, rows and SHA-256, so
    the data are recognised as synthetic wherever the file is passed.

    Args:
        path: output file; default ``paths.SYNTHETIC_CSV``. Parent folders are created.
        n: number of faces (>= 7); 35,887 is the size of FER2013.
        seed: non-negative integer; the same (n, seed) writes the same bytes.
        progress: show tqdm bars on stderr.
    Returns:
        The pathlib.Path written.
    Raises:
        ValueError: n < 7 or a negative seed; path names a folder.
    """
    _check(n, seed)
    path = pathlib.Path(path).expanduser() if path is not None else paths.SYNTHETIC_CSV
    if path.is_dir():
        raise errors.InputError(f"{path.absolute()}: is a folder; give a file name, e.g. "
                                f"{path.absolute() / 'fer2013.csv.gz'}")
    images, labels = generate(n, seed, progress=progress)
    usages = usage_split(labels, seed)
    order = np.concatenate([np.flatnonzero(usages == name) for name in FER2013_USAGE_COUNTS])
    with paths.atomic_write(path, "wb") as raw:
        compressed = path.name.endswith(".gz")  # closing the GzipFile leaves raw open, for atomic_write to fsync
        stream = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) if compressed else raw
        # Compress on a second thread (zlib releases the GIL) while the next chunk is formatted.
        with stream if compressed else contextlib.nullcontext(), futures.ThreadPoolExecutor(max_workers=1) as writer, \
                tqdm(total=n, desc="writing csv", unit="row", disable=not progress) as bar:
            pending = writer.submit(stream.write, b"emotion,pixels,Usage\n")
            for start in range(0, n, 1024):
                chunk = order[start : start + 1024]
                text = _format_rows(images[chunk], labels[chunk], usages[chunk])
                pending.result()
                pending = writer.submit(stream.write, text)
                bar.update(len(chunk))
            pending.result()
    provenance.record_synthetic(path, rows=n, seed=seed)  # the sidecar that marks the file as generated
    return path
