"""Tests for fer_utils.augment: one-pass random affine, random erasing, CutMix, test-time views."""

import keras
import numpy as np
import pytest

from fer_utils import augment


def _faces(n=6, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48, 1)).astype(np.float32)


@pytest.mark.parametrize("angle, scale, shift, mirror, expected", [
    (0.0, 1.0, (0.0, 0.0), 1.0, [1, 0, 0, 0, 1, 0, 0, 0]),  # identity
    (0.0, 1.0, (0.0, 0.0), -1.0, [-1, 0, 4, 0, 1, 0, 0, 0]),  # mirror: x_in = 4 - x on a 5 px side
    (np.pi / 2, 1.0, (0.0, 0.0), 1.0, [0, -1, 4, 1, 0, 0, 0, 0]),  # quarter turn: x_in = 4 - y, y_in = x
    (0.0, 2.0, (1.0, -1.0), 1.0, [0.5, 0, 2, 0, 0.5, 0, 0, 0]),  # zoom in 2x about (2, 2), then shift
])
def test_affine_rows_by_hand_in_numpy_and_keras(angle, scale, shift, mirror, expected):
    rows = augment.affine_rows(np.float64(angle), scale, *shift, 5, mirror, array_module=np)
    np.testing.assert_allclose(rows, expected, atol=1e-12)
    tensors = [keras.ops.convert_to_tensor([value], "float32") for value in (angle, scale, *shift, mirror)]
    np.testing.assert_allclose(augment.affine_rows(*tensors[:4], 5, tensors[4]), [expected], atol=1e-6)


def test_affine_rows_follow_the_resampler_convention():
    image = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    quarter_turn = augment.affine_rows(np.array([np.pi / 2]), 1.0, 0.0, 0.0, 5, array_module=np).astype(np.float32)
    turned = keras.ops.image.affine_transform(image, quarter_turn, interpolation="bilinear")
    np.testing.assert_allclose(turned[0, ..., 0], np.rot90(image[0, ..., 0]), atol=1e-4)


def test_affine_without_motion_is_identity_or_a_mirror():
    x = _faces()
    out = augment.RandomAffine(flip=True, seed=1)(x, training=True).numpy()
    for image, result in zip(x, out):  # each face is itself or its mirror, resampled exactly
        assert np.allclose(result, image, atol=1e-3) or np.allclose(result, image[:, ::-1], atol=1e-3)
    assert not np.allclose(out, x, atol=1e-3)  # some were mirrored
    np.testing.assert_array_equal(augment.RandomAffine(seed=1)(x, training=False), x)


def test_affine_shift_moves_pixels_by_whole_steps_at_most_the_limit():
    x = np.zeros((64, 48, 48, 1), np.float32)
    x[:, 20:28, 20:28] = 255.0
    out = augment.RandomAffine(shift=0.1, flip=False, seed=2)(x, training=True).numpy()
    centres = np.array([np.argwhere(image[..., 0] > 127).mean(axis=0) for image in out])
    offsets = centres - 23.5
    assert np.abs(offsets).max() <= 0.1 * 48 + 0.5
    assert np.abs(offsets).max() > 1.0  # it did move


def test_affine_is_seeded():
    x = _faces()
    first = augment.RandomAffine(0.05, 0.1, 0.1, seed=3)(x, training=True).numpy()
    second = augment.RandomAffine(0.05, 0.1, 0.1, seed=3)(x, training=True).numpy()
    np.testing.assert_array_equal(first, second)
    with pytest.raises(ValueError, match="rotation"):
        augment.RandomAffine(rotation=1.5)


def test_erasing_blanks_one_rectangle_of_the_requested_size():
    x = np.full((200, 48, 48, 1), 100.0, np.float32)
    out = augment.RandomErasing(rate=0.5, area=(0.05, 0.1), seed=4)(x, training=True).numpy()
    changed = (out != 100.0)[..., 0]                               # (N, 48, 48)
    erased = changed.any(axis=(1, 2))
    assert 0.35 < erased.mean() < 0.65
    for mask in changed[erased]:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert 0.03 * 48 * 48 <= box <= 0.13 * 48 * 48              # one box of about the drawn area
    assert out.min() >= 0 and out.max() <= 255
    np.testing.assert_array_equal(augment.RandomErasing(seed=4)(x, training=False), x)


def test_cutmix_pastes_the_next_face_and_mixes_the_labels_by_the_pasted_share():
    n = 300
    x = np.repeat(np.arange(1, n + 1, dtype=np.float32), 48 * 48).reshape(n, 48, 48, 1)  # face i is all i + 1
    y = keras.utils.to_categorical(np.arange(n) % 7, 7).astype(np.float32)
    images, labels = (array.numpy() for array in augment.CutMix(rate=0.5, seed=5)((x, y), training=True))
    pasted = images[..., 0] == np.roll(x, -1, axis=0)[..., 0]                          # (N, 48, 48)
    assert np.all(pasted | (images[..., 0] == x[..., 0])), "a pixel came from neither face"
    share = pasted.mean(axis=(1, 2))
    assert 0.35 < (share > 0).mean() < 0.65 and 0.2 < share[share > 0].mean() < 0.55  # uniform area in [0, 1)
    np.testing.assert_allclose(labels, y * (1 - share[:, None]) + np.roll(y, -1, axis=0) * share[:, None], atol=1e-6)
    for mask in pasted[share > 0]:                                                      # one rectangle each
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
    again = augment.CutMix(rate=0.5, seed=5)((x, y), training=True)
    np.testing.assert_array_equal(again[0], images)
    for kept in (augment.CutMix(rate=0.5, seed=5)((x, y), training=False), augment.CutMix(rate=0.0)((x, y))):
        np.testing.assert_array_equal(kept[0], x)
        np.testing.assert_array_equal(kept[1], y)
    with pytest.raises(ValueError, match="rate"):
        augment.CutMix(rate=1.5)


def test_views_flip_and_ten_crop():
    x = _faces(2)
    assert len(augment.views(x, "none")) == 1
    plain, mirrored = augment.views(x, "flip")
    np.testing.assert_array_equal(mirrored, x[:, :, ::-1])
    crops = augment.views(x, "ten_crop", margin=3)
    assert len(crops) == 10 and all(crop.shape == x.shape for crop in crops)
    np.testing.assert_array_equal(crops[0], x)                      # the centre window is the face
    np.testing.assert_array_equal(crops[1][:, 3:, 3:], x[:, :45, :45])  # top-left window: shifted by 3 px
    np.testing.assert_array_equal(crops[5], x[:, :, ::-1])
    with pytest.raises(ValueError, match="tta="):
        augment.views(x, "five_crop")
