"""Training-time augmentation layers and test-time augmentation views for 48x48 faces.

Training: ``RandomAffine`` draws a flip, rotation, zoom and shift per image and resamples each face
once (chained Keras RandomRotation/RandomTranslation/RandomZoom resample three times, blurring the
1-2 px cues of small faces, and cost three passes); ``RandomErasing`` blanks a random rectangle
(Zhong et al. 2017, https://arxiv.org/abs/1708.04896); ``CutMix`` pastes a rectangle of another face of
the batch and mixes the two labels by the pasted share (Yun et al. 2019). All work on raw 0-255 batches,
are seeded and run inside tf.data.

Test time: ``views`` returns the images a prediction averages over: the face itself, its mirror
image, or ten crops (Krizhevsky et al. 2012): the centre and four corner windows of the face padded
by reflection, each also mirrored, so every view keeps the model's 48x48 input.
"""

import math

import keras
import numpy as np
from keras import ops

from fer_utils import IMAGE_SIZE
from fer_utils.config import TTA_MODES


def affine_rows(angle, scale, shift_x, shift_y, side, mirror=1.0, array_module=ops):
    """Projective transform rows for a rotation and zoom about the image centre, a mirror and a shift.

    Each row [a0, a1, a2, b0, b1, b2, 0, 0] maps an output pixel (x, y) to the input pixel
    (a0 x + a1 y + a2, b0 x + b1 y + b2), the convention of ``ImageProjectiveTransformV3`` and
    ``keras.ops.image.affine_transform``: input = R(angle) M (p - c) / scale + c + shift.

    Args:
        angle: rotation in radians, any shape S (tensor or array).
        scale: zoom factor, shape S; > 1 zooms in.
        shift_x, shift_y: shift in pixels, shape S.
        side: the image side in pixels; the centre c is ((side - 1) / 2, (side - 1) / 2).
        mirror: -1 to mirror left-right, 1 not to, shape S or a scalar.
        array_module: ``keras.ops`` for tensors (inside a tf.data or Keras graph) or ``numpy``.
    Returns:
        (*S, 8) rows in the arrays' dtype.
    """
    cos, sin = array_module.cos(angle) / scale, array_module.sin(angle) / scale
    a0, a1 = cos * mirror, -sin
    b0, b1 = sin * mirror, cos
    centre = (side - 1) / 2.0
    a2 = centre + shift_x - (a0 + a1) * centre
    b2 = centre + shift_y - (b0 + b1) * centre
    zeros = array_module.zeros_like(a0)
    return array_module.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=-1)


class RandomAffine(keras.layers.Layer):
    """Per-image random horizontal flip, rotation, zoom and shift in one bilinear resampling.

    Args:
        rotation: max rotation as a fraction of a full turn (0.05 = 18 degrees).
        zoom: max zoom in or out as a fraction (0.1 = 0.9x to 1.1x).
        shift: max shift as a fraction of the side, in x and y.
        flip: mirror half of the faces left-right.
        seed: seed of the layer's random stream.
    """

    def __init__(self, rotation=0.0, zoom=0.0, shift=0.0, flip=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("rotation", rotation), ("zoom", zoom), ("shift", shift)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name}={value}: must be in [0, 1)")
        self.rotation, self.zoom, self.shift, self.flip = rotation, zoom, shift, flip
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def transforms(self, batch_size, side):
        """(B, 8) rows [a0, a1, a2, b0, b1, b2, 0, 0] mapping output pixels to input pixels."""
        def uniform(low, high):
            return keras.random.uniform((batch_size,), low, high, seed=self.seed_generator)

        angle = uniform(-self.rotation, self.rotation) * 2.0 * math.pi
        scale = 1.0 + uniform(-self.zoom, self.zoom)                     # > 1 zooms in
        shift_x = uniform(-self.shift, self.shift) * side
        shift_y = uniform(-self.shift, self.shift) * side
        mirror = ops.where(uniform(0.0, 1.0) < 0.5, -1.0, 1.0) if self.flip else ops.ones((batch_size,))
        return affine_rows(angle, scale, shift_x, shift_y, side, mirror)

    def call(self, images, training=True):
        if not training:
            return images
        batch_size, side = ops.shape(images)[0], images.shape[1]
        return ops.image.affine_transform(images, self.transforms(batch_size, side), interpolation="bilinear",
                                          fill_mode="reflect")

    def get_config(self):
        return {**super().get_config(), "rotation": self.rotation, "zoom": self.zoom, "shift": self.shift,
                "flip": self.flip, "seed": self.seed}


def rectangles(top, bottom, left, right, height, width, dtype, apply):
    """(B, H, W, 1) masks, 1 on the pixels of each image's rectangle [top, bottom) x [left, right), 0 elsewhere.

    Args:
        top, bottom, left, right: (B,) float edges in pixels (beyond the image they are clipped by the grid).
        height, width: the image size.
        dtype: the masks' dtype.
        apply: (B,) 1 for images that get their rectangle, 0 for those whose mask stays empty.
    """
    rows = ops.arange(height, dtype="float32")[None, :, None, None]                # (1, H, 1, 1)
    cols = ops.arange(width, dtype="float32")[None, None, :, None]                 # (1, 1, W, 1)

    def per_image(values):
        return ops.reshape(values, (-1, 1, 1, 1))

    inside = ((rows >= per_image(top)) & (rows < per_image(bottom))
              & (cols >= per_image(left)) & (cols < per_image(right)))             # (B, H, W, 1)
    return ops.cast(inside, dtype) * per_image(apply)


class RandomErasing(keras.layers.Layer):
    """With probability ``rate`` per image, fill a random rectangle with uniform noise in [0, 255].

    Args:
        rate: probability that a face gets a rectangle.
        area: (min, max) share of the image the rectangle covers.
        aspect: (min, max) height/width ratio, drawn log-uniformly.
        seed: seed of the layer's random stream.
    """

    def __init__(self, rate=0.5, area=(0.02, 0.2), aspect=(0.3, 3.3), seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate={rate}: must be in [0, 1]")
        if not 0.0 < area[0] <= area[1] < 1.0:
            raise ValueError(f"area={area}: expected 0 < min <= max < 1")
        self.rate, self.area, self.aspect, self.seed = rate, tuple(area), tuple(aspect), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training or self.rate == 0.0:
            return images
        shape = ops.shape(images)
        batch_size, height, width = shape[0], images.shape[1], images.shape[2]

        def uniform(low, high, size=(batch_size,)):
            return keras.random.uniform(size, low, high, seed=self.seed_generator)

        area = uniform(*self.area) * height * width
        ratio = ops.exp(uniform(math.log(self.aspect[0]), math.log(self.aspect[1])))
        box_h = ops.minimum(ops.sqrt(area * ratio), height)                        # (B,)
        box_w = ops.minimum(ops.sqrt(area / ratio), width)
        top = uniform(0.0, 1.0) * (height - box_h)
        left = uniform(0.0, 1.0) * (width - box_w)
        apply = ops.cast(uniform(0.0, 1.0) < self.rate, images.dtype)
        mask = rectangles(top, top + box_h, left, left + box_w, height, width, images.dtype, apply)
        noise = uniform(0.0, 255.0, size=shape)
        return images * (1.0 - mask) + ops.cast(noise, images.dtype) * mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "area": self.area, "aspect": self.aspect,
                "seed": self.seed}


class CutMix(keras.layers.Layer):
    """With probability ``rate`` per face, paste a rectangle of the next face in the batch over it and mix
    the two labels by the share of pixels pasted (Yun et al. 2019, https://arxiv.org/abs/1905.04899).

    Training batches are shuffled, so the next face is a random partner. The rectangle has the image's
    aspect, an area share drawn uniformly in [0, 1) (the paper's Beta(1, 1)) and a uniform centre; clipped
    at the border, it covers what the label's share says it covers.

    Args:
        rate: probability that a face gets a rectangle.
        seed: seed of the layer's random stream.
    Call:
        ``layer((images, labels), training=True)`` with (B, H, W, C) images and (B, K) one-hot or soft
        labels returns the mixed (images, labels).
    """

    def __init__(self, rate=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate={rate}: must be in [0, 1]")
        self.rate, self.seed = rate, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=True):
        images, labels = inputs
        if not training or self.rate == 0.0:
            return images, labels
        batch_size, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]

        def uniform():
            return keras.random.uniform((batch_size,), 0.0, 1.0, seed=self.seed_generator)

        side = ops.sqrt(uniform())                                                 # area share = side ** 2
        centre_y, centre_x = uniform() * height, uniform() * width
        apply = ops.cast(uniform() < self.rate, images.dtype)
        half_h, half_w = side * height / 2, side * width / 2
        mask = rectangles(centre_y - half_h, centre_y + half_h, centre_x - half_w, centre_x + half_w, height, width,
                          images.dtype, apply)                                     # (B, H, W, 1)
        mixed = images * (1.0 - mask) + ops.roll(images, -1, axis=0) * mask
        share = ops.cast(ops.mean(mask, axis=(1, 2, 3)), labels.dtype)[:, None]   # (B, 1) pixels pasted
        return mixed, labels * (1.0 - share) + ops.roll(labels, -1, axis=0) * share

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def views(x, mode="flip", margin=3):
    """The test-time views of a batch of faces, each the shape of ``x``.

    Args:
        x: (N, 48, 48, C) images.
        mode: "none" (x itself), "flip" (x and its mirror) or "ten_crop" (centre and four corner
            windows of x padded by ``margin`` px with reflection, each also mirrored).
        margin: the corner windows' offset in pixels.
    Returns:
        A list of arrays of x's shape: 1, 2 or 10 of them.
    Raises:
        ValueError: unknown mode or a margin outside [1, 12].
    """
    if mode not in TTA_MODES:
        raise ValueError(f"tta={mode!r}: choose one of {', '.join(TTA_MODES)}")
    x = np.asarray(x)
    if mode == "none":
        return [x]
    if mode == "flip":
        return [x, x[:, :, ::-1]]
    if not 1 <= margin <= IMAGE_SIZE // 4:
        raise ValueError(f"margin={margin}: must be between 1 and {IMAGE_SIZE // 4} px")
    padded = np.pad(x, ((0, 0), (margin, margin), (margin, margin), (0, 0)), mode="reflect")
    side = x.shape[1]
    offsets = [(margin, margin), (0, 0), (0, 2 * margin), (2 * margin, 0), (2 * margin, 2 * margin)]
    crops = [padded[:, top:top + side, left:left + side] for top, left in offsets]
    return crops + [crop[:, :, ::-1] for crop in crops]
