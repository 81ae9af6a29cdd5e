"""What a cheap camera does to a whole photo, for the evaluation's camera rows.

The evaluation's photos are clean: neutral colour, good exposure, no noise, JPEG at quality 92.
People's photos are not. :func:`camera_photo` gives a photo a white balance that is off, and
each with an even chance: under- or over-exposure, sensor noise and soft focus; then it saves
it as a JPEG of quality 30-75. Every effect acts on the whole photo, so the detector meets it
as well as the models. Exposure and noise are the training's augmentation functions
(:mod:`faceinsight.training.photo_effects`) at ranges of the evaluation's own; the training
draws them on single grey faces and draws no colour casts, so these rows measure how far that
augmentation carries.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceinsight.eval.scenes import encode_jpeg
from faceinsight.training import photo_effects

EFFECT_CHANCE = 0.5  # the chance of each effect after the colour cast
JPEG_QUALITY = (30, 75)


def white_balance(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A colour cast: each RGB channel's gain drawn from 0.75-1.25 (warm, cool or tinted light)."""
    gains = rng.uniform(0.75, 1.25, 3).astype(np.float32)
    return np.clip(image.astype(np.float32) * gains, 0, 255).astype(np.uint8)


def exposure(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Under- or over-exposed: a gamma of 0.6-1.7 (log-uniform) and a gain of 0.7-1.2."""
    return photo_effects.exposure(image, rng, gamma=(0.6, 1.7), gain=(0.7, 1.2))


def sensor_noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour noise of a small sensor in dim light: Gaussian, 3-10 levels, each channel its own."""
    return photo_effects.sensor_noise(image, rng, levels=(3.0, 10.0))


def soft_focus(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Slightly out of focus: a Gaussian of 0.7-1.8 px over the 640 px photo."""
    return cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.7, 1.8)))


def camera_photo(image: np.ndarray, rng: np.random.Generator) -> bytes:
    """The photo as a cheap camera would save it (see the module's docstring).

    :param image: an RGB photo (H, W, 3) uint8.
    :param rng: draws which effects and how strong.
    :returns: JPEG bytes.
    """
    image = white_balance(image, rng)
    for effect in (exposure, sensor_noise, soft_focus):
        if rng.random() < EFFECT_CHANCE:
            image = effect(image, rng)
    return encode_jpeg(image, int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)))
