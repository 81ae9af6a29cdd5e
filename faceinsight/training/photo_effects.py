"""What cameras, light and hands do to a face in a real photo, as training augmentation.

Datasets hold clean, frontal, well-exposed chips; people's photos are darker or brighter, soft,
noisy, saved as small JPEGs, turned a little away, and sometimes half hidden by a hand or dark
glasses. :func:`photo_effects` gives a face in context one or more of those, before the serving
crop function cuts it (:func:`faceinsight.training.augment.jittered_crops`), so the model learns
what the crop of such a photo looks like after equalisation. The faces are grey already (the
models read grey crops), so colour casts and white balance reach them only through the grey
conversion and are not drawn here.
"""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[float, float, float, float]

EFFECT_CHANCE = 0.5  # each effect's chance, once a face is given photo effects


def exposure(image: np.ndarray, rng: np.random.Generator, gamma: tuple[float, float] = (0.5, 2.0),
             gain: tuple[float, float] = (0.6, 1.3)) -> np.ndarray:
    """Under- or over-exposed: a gamma drawn log-uniformly from ``gamma`` and a gain from ``gain``
    (training's defaults; the evaluation's camera rows draw their own)."""
    power = float(np.exp(rng.uniform(np.log(gamma[0]), np.log(gamma[1]))))
    scaled = 255.0 * (image.astype(np.float32) / 255.0) ** power * rng.uniform(*gain)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def blur(image: np.ndarray, box: Box, rng: np.random.Generator) -> np.ndarray:
    """Out of focus (Gaussian) or moved (a line kernel at a random angle), as strong as 1-3 % of
    the face's side."""
    reach = max(1.0, max(box[2], box[3]) * rng.uniform(0.01, 0.03))
    if rng.random() < 0.5:
        return cv2.GaussianBlur(image, (0, 0), reach)
    length = max(3, int(round(2 * reach)) | 1)
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    turn = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    kernel = cv2.warpAffine(kernel, turn, (length, length))
    return cv2.filter2D(image, -1, kernel / max(float(kernel.sum()), 1e-6))


def sensor_noise(image: np.ndarray, rng: np.random.Generator,
                 levels: tuple[float, float] = (2.0, 12.0)) -> np.ndarray:
    """A dim sensor's noise: Gaussian, its deviation drawn from ``levels`` (grey levels; each
    value of a colour image its own)."""
    noisy = image.astype(np.float32) + rng.normal(0.0, rng.uniform(*levels), image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Saved as a JPEG of quality 20-85 and read back."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 86))])
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED) if ok else image


def turned(image: np.ndarray, box: Box, rng: np.random.Generator) -> np.ndarray:
    """The face turned a little away (yaw): one side of its box narrowed and shortened, as a
    perspective squeeze about the box."""
    x, y, w, h = box
    near, far = 1.0, rng.uniform(0.8, 0.97)  # the far side's height over the near side's
    squeeze = rng.uniform(0.8, 1.0)
    left_far = rng.random() < 0.5
    source = np.float32([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    left_scale, right_scale = (far, near) if left_far else (near, far)
    left, right = x + w / 2 - w * squeeze / 2, x + w / 2 + w * squeeze / 2
    target = np.float32([[left, y + h * (1 - left_scale) / 2], [right, y + h * (1 - right_scale) / 2],
                         [right, y + h * (1 + right_scale) / 2], [left, y + h * (1 + left_scale) / 2]])
    matrix = cv2.getPerspectiveTransform(source, target)
    return cv2.warpPerspective(image, matrix, (image.shape[1], image.shape[0]),
                               borderMode=cv2.BORDER_REPLICATE)


def occluded(image: np.ndarray, box: Box, rng: np.random.Generator) -> np.ndarray:
    """Part of the face hidden: a hand (a soft-edged, skin-grey ellipse reaching in from below or
    a side, over 10-30 % of the face) or dark glasses (two ellipses and a bridge at eye height)."""
    x, y, w, h = box
    mask = np.zeros(image.shape[:2], np.float32)
    if rng.random() < 0.5:
        side = rng.integers(3)  # below, from the left, from the right
        reach = rng.uniform(0.25, 0.5)
        centre = [(x + w * rng.uniform(0.3, 0.7), y + h * (1.05 - reach / 2)),
                  (x + w * (reach / 2 - 0.05), y + h * rng.uniform(0.45, 0.8)),
                  (x + w * (1.05 - reach / 2), y + h * rng.uniform(0.45, 0.8))][side]
        axes = (w * rng.uniform(0.25, 0.4), h * reach / 2 + h * 0.1)
        cv2.ellipse(mask, (round(centre[0]), round(centre[1])), (round(axes[0]), round(axes[1])),
                    float(rng.uniform(-30, 30)), 0, 360, 1.0, -1)
        shade = rng.uniform(90, 210)
    else:
        eyes_y = y + h * rng.uniform(0.3, 0.42)
        lens = (max(2, round(w * 0.16)), max(2, round(h * 0.1)))
        for eye_x in (x + w * 0.3, x + w * 0.7):
            cv2.ellipse(mask, (round(eye_x), round(eyes_y)), lens, 0, 0, 360, 1.0, -1)
        cv2.line(mask, (round(x + w * 0.4), round(eyes_y)), (round(x + w * 0.6), round(eyes_y)), 1.0,
                 max(1, round(h * 0.02)))
        shade = rng.uniform(5, 60)
    soft = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.02 * max(w, h)))
    mixed = image.astype(np.float32) * (1 - soft) + shade * soft
    return np.clip(mixed, 0, 255).astype(np.uint8)


def photo_effects(image: np.ndarray, box: Box, rng: np.random.Generator,
                  chance: float = EFFECT_CHANCE) -> np.ndarray:
    """A face in context as a real photo might show it: each effect drawn with ``chance``, in
    the order a photo meets them (the face turned or hidden, then light, focus, sensor, file).

    :param image: (H, W) uint8 grey face in context.
    :param box: the face's box ``(x, y, w, h)`` in it (the model's framing).
    :param rng: the batch's random numbers.
    :param chance: each effect's chance.
    :returns: a new (H, W) uint8 image.
    """
    steps = ((turned, True), (occluded, True), (exposure, False), (blur, True), (sensor_noise, False),
             (jpeg, False))
    for effect, needs_box in steps:
        if rng.random() < chance:
            image = effect(image, box, rng) if needs_box else effect(image, rng)
    return image
