"""Spatial and photometric augmentation of clips ``imgs`` uint8
``(T, H, W, 3)``; an image is a clip of one frame, so each transform has a
single implementation.

Every geometric transform is an affine map of the pixel plane. Besides the
frames it moves every annotation present (``gt_bboxes`` ``(n, 4)``,
``proposals`` ``(n, 4)``, ``prior_bboxes`` ``(T, M, 4)`` xyxy and
``prior_keypoints`` ``(T, P, K, 3)`` ``(x, y, score)``) with the same map.
Coordinates are continuous: pixel ``i`` covers ``[i, i + 1)``, so a
horizontal flip maps ``x`` to ``W - x``. Boxes become the bounding box of
their mapped corners, clipped to the frame; keypoints that leave the frame
get score 0. Photometric transforms apply the same random parameters to all
frames of a clip.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mvitx.registry import TRANSFORMS

BOX_KEYS = ('gt_bboxes', 'proposals', 'prior_bboxes')
KEYPOINT_KEY = 'prior_keypoints'


def _as_pair(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """``size`` as ``(w, h)``."""
    if isinstance(size, int):
        return size, size
    return int(size[0]), int(size[1])


def _warp_annotations(results: dict, matrix: np.ndarray, out_w: int,
                      out_h: int) -> None:
    """Maps every box and keypoint key in ``results`` with the affine
    ``matrix`` ``(2, 3)`` into an ``out_w`` x ``out_h`` frame."""
    lin, shift = matrix[:, :2], matrix[:, 2]
    for key in BOX_KEYS:
        boxes = results.get(key)
        if boxes is None or len(boxes) == 0:
            continue
        boxes = np.asarray(boxes, dtype=np.float32)
        x1, y1, x2, y2 = np.moveaxis(boxes, -1, 0)
        corners = np.stack([
            np.stack([x1, y1], -1),
            np.stack([x2, y1], -1),
            np.stack([x1, y2], -1),
            np.stack([x2, y2], -1)
        ], -2)  # (..., 4, 2)
        mapped = corners @ lin.T + shift
        lo, hi = mapped.min(-2), mapped.max(-2)
        new = np.concatenate([lo, hi], -1)
        new[..., 0::2] = new[..., 0::2].clip(0, out_w)
        new[..., 1::2] = new[..., 1::2].clip(0, out_h)
        results[key] = new.astype(np.float32)
    kps = results.get(KEYPOINT_KEY)
    if kps is not None and kps.size:
        kps = np.array(kps, dtype=np.float32)
        kps[..., :2] = kps[..., :2] @ lin.T + shift
        x, y = kps[..., 0], kps[..., 1]
        outside = (x < 0) | (y < 0) | (x > out_w) | (y > out_h)
        kps[..., 2][outside] = 0
        results[KEYPOINT_KEY] = kps


def _set_shape(results: dict) -> None:
    results['img_shape'] = results['imgs'].shape[1:3]


def crop(results: dict, x1: int, y1: int, x2: int, y2: int) -> dict:
    """Crops the frames to ``[x1, x2) x [y1, y2)`` (a view, no copy) and
    moves the annotations; records ``crop_bbox``."""
    results['imgs'] = results['imgs'][:, y1:y2, x1:x2]
    matrix = np.array([[1, 0, -x1], [0, 1, -y1]], dtype=np.float64)
    _warp_annotations(results, matrix, x2 - x1, y2 - y1)
    results['crop_bbox'] = np.array([x1, y1, x2, y2], dtype=np.int64)
    _set_shape(results)
    return results


def resize(results: dict,
           out_w: int,
           out_h: int,
           interpolation: int = cv2.INTER_LINEAR) -> dict:
    """Resizes the frames to ``out_w`` x ``out_h``, moves the annotations
    and multiplies ``scale_factor`` ``(w, h)`` by this resize's factor."""
    imgs = results['imgs']
    t, h, w = imgs.shape[:3]
    if (h, w) != (out_h, out_w):
        out = np.empty((t, out_h, out_w, imgs.shape[3]), dtype=imgs.dtype)
        for i in range(t):
            cv2.resize(
                imgs[i], (out_w, out_h),
                dst=out[i],
                interpolation=interpolation)
        results['imgs'] = out
    sx, sy = out_w / w, out_h / h
    _warp_annotations(results, np.array([[sx, 0, 0], [0, sy, 0]]), out_w,
                      out_h)
    prev = results.get('scale_factor', np.ones(2, dtype=np.float32))
    results['scale_factor'] = prev * np.array([sx, sy], dtype=np.float32)
    _set_shape(results)
    return results


def warp_affine(results: dict, matrix: np.ndarray, fill: Tuple[int, int,
                                                               int]) -> dict:
    """Warps every frame with the affine ``matrix`` ``(2, 3)`` (same output
    size) and moves the annotations."""
    imgs = results['imgs']
    h, w = imgs.shape[1:3]
    out = np.empty_like(imgs)
    for i in range(len(imgs)):
        cv2.warpAffine(
            np.ascontiguousarray(imgs[i]),
            matrix, (w, h),
            dst=out[i],
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=fill)
    results['imgs'] = out
    _warp_annotations(results, matrix, w, h)
    return results


@TRANSFORMS.register_module()
class RandomResizedCrop(BaseTransform):
    """Crops a random region with a random area fraction and aspect ratio
    (the Inception crop); follow it with :class:`Resize`.

    Args:
        area_range (tuple[float]): Range of the crop area as a fraction of
            the frame. Defaults to ``(0.08, 1.0)``.
        aspect_ratio_range (tuple[float]): Range of crop ``w / h`` (sampled
            log-uniformly). Defaults to ``(3 / 4, 4 / 3)``.
        max_attempts (int): Draws before falling back to the largest
            centred crop within the aspect ratio range. Defaults to 10.
    """

    def __init__(self,
                 area_range: Tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3 / 4, 4 / 3),
                 max_attempts: int = 10):
        self.area_range = area_range
        self.aspect_ratio_range = aspect_ratio_range
        self.max_attempts = max_attempts

    def _crop_box(self, h: int, w: int) -> Tuple[int, int, int, int]:
        log_ratio = np.log(self.aspect_ratio_range)
        for _ in range(self.max_attempts):
            area = np.random.uniform(*self.area_range) * h * w
            ratio = np.exp(np.random.uniform(*log_ratio))
            cw = int(round(math.sqrt(area * ratio)))
            ch = int(round(math.sqrt(area / ratio)))
            if 0 < cw <= w and 0 < ch <= h:
                x1 = np.random.randint(0, w - cw + 1)
                y1 = np.random.randint(0, h - ch + 1)
                return x1, y1, x1 + cw, y1 + ch
        ratio = np.clip(w / h, *self.aspect_ratio_range)
        cw, ch = (w, int(round(w / ratio))) if w / h < ratio else (int(
            round(h * ratio)), h)
        cw, ch = min(cw, w), min(ch, h)
        x1, y1 = (w - cw) // 2, (h - ch) // 2
        return x1, y1, x1 + cw, y1 + ch

    def transform(self, results: dict) -> dict:
        h, w = results['imgs'].shape[1:3]
        return crop(results, *self._crop_box(h, w))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(area_range={self.area_range}, '
                f'aspect_ratio_range={self.aspect_ratio_range})')


@TRANSFORMS.register_module()
class Resize(BaseTransform):
    """Resizes the frames.

    Args:
        scale (tuple[int]): ``(w, h)`` when ``keep_ratio=False``; otherwise
            ``(long_edge, short_edge)`` limits, the frame scaled by the
            largest factor that keeps both edges within them (``-1``: no
            limit, so ``(-1, 256)`` makes the short side 256).
        keep_ratio (bool): Whether to keep the aspect ratio. Defaults to
            False.
        interpolation (str): ``'bilinear'``, ``'nearest'``, ``'bicubic'``
            or ``'area'``. Defaults to ``'bilinear'``.
    """

    INTERPOLATIONS = dict(
        bilinear=cv2.INTER_LINEAR,
        nearest=cv2.INTER_NEAREST,
        bicubic=cv2.INTER_CUBIC,
        area=cv2.INTER_AREA)

    def __init__(self,
                 scale: Tuple[int, int],
                 keep_ratio: bool = False,
                 interpolation: str = 'bilinear'):
        self.scale = _as_pair(scale)
        self.keep_ratio = keep_ratio
        self.interpolation = interpolation

    def _out_size(self, h: int, w: int) -> Tuple[int, int]:
        if not self.keep_ratio:
            return self.scale
        long_lim, short_lim = (math.inf if s == -1 else s for s in self.scale)
        factor = min(long_lim / max(h, w), short_lim / min(h, w))
        return int(round(w * factor)), int(round(h * factor))

    def transform(self, results: dict) -> dict:
        h, w = results['imgs'].shape[1:3]
        out_w, out_h = self._out_size(h, w)
        return resize(results, out_w, out_h,
                      self.INTERPOLATIONS[self.interpolation])

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, '
                f'keep_ratio={self.keep_ratio}, '
                f'interpolation={self.interpolation})')


@TRANSFORMS.register_module()
class RandomShortSideScale(BaseTransform):
    """Scale jitter: resizes so that the short side is a random integer in
    ``[min_size, max_size]``, keeping the aspect ratio.

    Args:
        min_size (int): Smallest short side.
        max_size (int): Largest short side.
    """

    def __init__(self, min_size: int, max_size: int):
        self.min_size = min_size
        self.max_size = max_size

    def transform(self, results: dict) -> dict:
        h, w = results['imgs'].shape[1:3]
        short = np.random.randint(self.min_size, self.max_size + 1)
        factor = short / min(h, w)
        return resize(results, int(round(w * factor)), int(round(h * factor)))


@TRANSFORMS.register_module()
class CenterCrop(BaseTransform):
    """Crops the centre.

    Args:
        crop_size (int | tuple[int]): ``(w, h)`` or one side of a square;
            clamped to the frame.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]]):
        self.crop_size = _as_pair(crop_size)

    def transform(self, results: dict) -> dict:
        h, w = results['imgs'].shape[1:3]
        cw, ch = min(self.crop_size[0], w), min(self.crop_size[1], h)
        x1, y1 = (w - cw) // 2, (h - ch) // 2
        return crop(results, x1, y1, x1 + cw, y1 + ch)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(crop_size={self.crop_size})'


@TRANSFORMS.register_module()
class ThreeCrop(BaseTransform):
    """Test-time crops at the start, centre and end of the long side,
    stacked as views: ``imgs`` becomes ``(3 * T, h, w, 3)``, ordered crop
    by crop, and ``num_crops`` is set to 3.

    The crops are different views of one sample, so this transform does not
    take box or keypoint annotations (it raises if they are present).

    Args:
        crop_size (int | tuple[int]): ``(w, h)`` or one side of a square.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]]):
        self.crop_size = _as_pair(crop_size)

    def transform(self, results: dict) -> dict:
        present = [k for k in BOX_KEYS + (KEYPOINT_KEY, ) if k in results]
        if present:
            raise ValueError(f'ThreeCrop cannot carry {present}; use '
                             'CenterCrop for samples with annotations')
        imgs = results['imgs']
        h, w = imgs.shape[1:3]
        cw, ch = min(self.crop_size[0], w), min(self.crop_size[1], h)
        if w >= h:
            starts = [(x, (h - ch) // 2) for x in (0, (w - cw) // 2, w - cw)]
        else:
            starts = [((w - cw) // 2, y) for y in (0, (h - ch) // 2, h - ch)]
        results['imgs'] = np.concatenate(
            [imgs[:, y:y + ch, x:x + cw] for x, y in starts])
        results['crop_bbox'] = np.array([[x, y, x + cw, y + ch]
                                         for x, y in starts])
        results['num_crops'] = 3
        _set_shape(results)
        return results


def _swap_keypoints(kps: np.ndarray, pairs: Optional[Sequence]) -> np.ndarray:
    """``(T, P, K, C)`` keypoints with the left/right ids of ``pairs``
    swapped (as they are when there are none)."""
    if not pairs:
        return kps
    order = np.arange(kps.shape[2])
    for i, j in pairs:
        order[i], order[j] = j, i
    return kps[:, :, order]


@TRANSFORMS.register_module()
class Flip(BaseTransform):
    """Flips the clip with probability ``flip_ratio`` and swaps the
    left/right keypoint ids listed in ``results['keypoint_flip_pairs']``;
    a horizontal flip also mirrors 3D poses (``prior_keypoints3d``: x
    negated, ``keypoint3d_flip_pairs`` swapped).

    Records ``flip`` (bool) and ``flip_direction``.

    Args:
        flip_ratio (float): Probability of flipping. Defaults to 0.5.
        direction (str): ``'horizontal'`` or ``'vertical'`` (keypoint ids
            are swapped only for horizontal flips). Defaults to
            ``'horizontal'``.
    """

    def __init__(self, flip_ratio: float = 0.5, direction: str = 'horizontal'):
        assert direction in ('horizontal', 'vertical'), direction
        self.flip_ratio = flip_ratio
        self.direction = direction

    def transform(self, results: dict) -> dict:
        flip = bool(np.random.rand() < self.flip_ratio)
        results['flip'] = flip
        results['flip_direction'] = self.direction
        if not flip:
            return results
        imgs = results['imgs']
        h, w = imgs.shape[1:3]
        horizontal = self.direction == 'horizontal'
        out = np.empty(imgs.shape, imgs.dtype)
        for i in range(len(imgs)):  # OpenCV flips far faster than numpy
            cv2.flip(imgs[i], 1 if horizontal else 0, dst=out[i])
        results['imgs'] = out
        matrix = np.array(
            [[-1, 0, w], [0, 1, 0]] if horizontal else [[1, 0, 0], [0, -1, h]],
            dtype=np.float64)
        _warp_annotations(results, matrix, w, h)
        if horizontal and KEYPOINT_KEY in results:
            results[KEYPOINT_KEY] = _swap_keypoints(
                results[KEYPOINT_KEY], results.get('keypoint_flip_pairs'))
        if horizontal and 'prior_keypoints3d' in results:
            # Camera coordinates: a mirrored image mirrors x.
            kps3d = results['prior_keypoints3d']
            results['prior_keypoints3d'] = _swap_keypoints(
                kps3d * np.array([-1, 1, 1, 1], kps3d.dtype),
                results.get('keypoint3d_flip_pairs'))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(flip_ratio={self.flip_ratio}, '
                f'direction={self.direction})')


def _blend(imgs: np.ndarray, other: Union[np.ndarray, float],
           factor: float) -> np.ndarray:
    """``other + factor * (imgs - other)`` as uint8 (PIL ImageEnhance)."""
    out = other + factor * (imgs.astype(np.float32) - other)
    return out.clip(0, 255).astype(np.uint8)


def _gray(imgs: np.ndarray) -> np.ndarray:
    """Luma ``(T, H, W, 1)`` float32 (ITU-R 601, as PIL)."""
    return (imgs.astype(np.float32) @ np.array([0.299, 0.587, 0.114],
                                               dtype=np.float32))[..., None]


def _adjust_hue(imgs: np.ndarray, shift: float) -> np.ndarray:
    """Rotates the hue by ``shift`` of a full turn (``[-0.5, 0.5]``)."""
    t, h, w = imgs.shape[:3]
    flat = np.ascontiguousarray(imgs).reshape(t * h, w, 3)
    hsv = cv2.cvtColor(flat, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + int(round(shift * 180))) %
                   180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).reshape(imgs.shape)


@TRANSFORMS.register_module()
class ColorJitter(BaseTransform):
    """Random brightness, contrast, saturation and hue, in random order, the
    same for every frame of a clip.

    Args:
        brightness (float): Factor drawn from ``[1 - b, 1 + b]``.
            Defaults to 0.4.
        contrast (float): As brightness. Defaults to 0.4.
        saturation (float): As brightness. Defaults to 0.4.
        hue (float): Shift drawn from ``[-hue, hue]`` turns (at most 0.5).
            Defaults to 0.
    """

    def __init__(self,
                 brightness: float = 0.4,
                 contrast: float = 0.4,
                 saturation: float = 0.4,
                 hue: float = 0.0):
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue

    @staticmethod
    def _factor(strength: float) -> float:
        return np.random.uniform(1 - strength, 1 + strength)

    def transform(self, results: dict) -> dict:
        imgs = results['imgs']
        for op in np.random.permutation(4):
            if op == 0 and self.brightness:
                imgs = _blend(imgs, 0.0, self._factor(self.brightness))
            elif op == 1 and self.contrast:
                imgs = _blend(imgs, float(_gray(imgs).mean()),
                              self._factor(self.contrast))
            elif op == 2 and self.saturation:
                imgs = _blend(imgs, _gray(imgs), self._factor(self.saturation))
            elif op == 3 and self.hue:
                shift = np.random.uniform(-self.hue, self.hue)
                imgs = _adjust_hue(imgs, shift)
        results['imgs'] = imgs
        return results


def _autocontrast(imgs: np.ndarray, _: float) -> np.ndarray:
    lo = imgs.min(axis=(0, 1, 2), keepdims=True).astype(np.float32)
    hi = imgs.max(axis=(0, 1, 2), keepdims=True).astype(np.float32)
    scale = 255.0 / np.maximum(hi - lo, 1)
    return ((imgs - lo) * scale).clip(0, 255).astype(np.uint8)


def _equalize(imgs: np.ndarray, _: float) -> np.ndarray:
    """Histogram equalisation per channel over the whole clip."""
    out = np.empty_like(imgs)
    for c in range(imgs.shape[-1]):
        chan = imgs[..., c]
        hist = np.bincount(chan.ravel(), minlength=256)
        cdf = hist.cumsum()
        nonzero = cdf[hist > 0]
        denom = max(cdf[-1] - nonzero[0], 1)
        lut = ((cdf - nonzero[0]) * 255.0 / denom).clip(0, 255)
        out[..., c] = lut.astype(np.uint8)[chan]
    return out


def _sharpness(imgs: np.ndarray, factor: float) -> np.ndarray:
    kernel = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32) / 13
    blurred = np.stack([cv2.filter2D(f, -1, kernel) for f in imgs])
    return _blend(imgs, blurred.astype(np.float32), factor)


@TRANSFORMS.register_module()
class RandAugment(BaseTransform):
    """RandAugment (timm's ``rand-m9-n2-mstd0.5`` by default) with the same
    ops and magnitudes for every frame of a clip; the geometric ops (rotate,
    shear, translate) move the annotations.

    Records the applied op names in ``rand_augment_ops``.

    Args:
        num_ops (int): Ops applied per sample. Defaults to 2.
        magnitude (float): Magnitude on a 0-10 scale. Defaults to 9.
        magnitude_std (float): Standard deviation of the per-op magnitude
            noise. Defaults to 0.5.
        prob (float): Probability of applying each chosen op. Defaults to
            0.5.
        fill (tuple[int]): RGB fill of areas uncovered by geometric ops.
            Defaults to ``(128, 128, 128)``.
    """

    OPS = ('identity', 'autocontrast', 'equalize', 'rotate', 'solarize',
           'color', 'posterize', 'contrast', 'brightness', 'sharpness',
           'shear_x', 'shear_y', 'translate_x', 'translate_y')

    def __init__(self,
                 num_ops: int = 2,
                 magnitude: float = 9,
                 magnitude_std: float = 0.5,
                 prob: float = 0.5,
                 fill: Tuple[int, int, int] = (128, 128, 128)):
        self.num_ops = num_ops
        self.magnitude = magnitude
        self.magnitude_std = magnitude_std
        self.prob = prob
        self.fill = tuple(fill)

    def _apply(self, results: dict, op: str, level: float) -> None:
        """Applies ``op`` at ``level`` in ``[0, 1]``."""
        imgs = results['imgs']
        sign = 1 if np.random.rand() < 0.5 else -1
        h, w = imgs.shape[1:3]
        if op in ('rotate', 'shear_x', 'shear_y', 'translate_x',
                  'translate_y'):
            if op == 'rotate':
                matrix = cv2.getRotationMatrix2D((w / 2, h / 2),
                                                 sign * 30 * level, 1.0)
            elif op.startswith('shear'):
                s = sign * 0.3 * level
                matrix = (
                    np.array([[1, s, -s * h / 2], [0, 1, 0]]) if op
                    == 'shear_x' else np.array([[1, 0, 0], [s, 1, -s * w /
                                                            2]]))
            else:
                dx, dy = (w, 0) if op == 'translate_x' else (0, h)
                t = sign * 0.45 * level
                matrix = np.array([[1, 0, t * dx], [0, 1, t * dy]])
            warp_affine(results, matrix.astype(np.float64), self.fill)
            return
        if op == 'autocontrast':
            imgs = _autocontrast(imgs, level)
        elif op == 'equalize':
            imgs = _equalize(imgs, level)
        elif op == 'solarize':
            thresh = int(256 - 256 * level)
            imgs = np.where(imgs >= thresh, 255 - imgs, imgs)
        elif op == 'posterize':
            bits = max(1, 8 - int(4 * level))
            imgs = imgs & np.uint8((0xFF << (8 - bits)) & 0xFF)
        elif op != 'identity':
            factor = 1.0 + sign * 0.9 * level
            if op == 'color':
                imgs = _blend(imgs, _gray(imgs), factor)
            elif op == 'contrast':
                imgs = _blend(imgs, float(_gray(imgs).mean()), factor)
            elif op == 'brightness':
                imgs = _blend(imgs, 0.0, factor)
            else:
                imgs = _sharpness(imgs, factor)
        results['imgs'] = imgs

    def transform(self, results: dict) -> dict:
        ops = np.random.choice(self.OPS, self.num_ops)
        applied = []
        for op in ops:
            if np.random.rand() >= self.prob:
                continue
            mag = self.magnitude + np.random.normal(0, self.magnitude_std)
            self._apply(results, str(op), float(np.clip(mag, 0, 10)) / 10)
            applied.append(str(op))
        results['rand_augment_ops'] = applied
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_ops={self.num_ops}, '
                f'magnitude={self.magnitude}, '
                f'magnitude_std={self.magnitude_std}, prob={self.prob})')


@TRANSFORMS.register_module()
class RandomErasing(BaseTransform):
    """Erases one random rectangle (the same in every frame) with random
    pixels, with probability ``erase_prob``; annotations are unchanged.

    Records ``erase_bbox`` (xyxy, or None).

    Args:
        erase_prob (float): Probability of erasing. Defaults to 0.25.
        area_range (tuple[float]): Erased fraction of the frame. Defaults to
            ``(0.02, 1 / 3)``.
        aspect_ratio_range (tuple[float]): ``h / w`` range, sampled
            log-uniformly. Defaults to ``(0.3, 1 / 0.3)``.
        mode (str): ``'rand'`` (per-pixel random colours) or ``'const'``
            (one random colour). Defaults to ``'rand'``.
        max_attempts (int): Draws of a rectangle that fits. Defaults to 10.
    """

    def __init__(self,
                 erase_prob: float = 0.25,
                 area_range: Tuple[float, float] = (0.02, 1 / 3),
                 aspect_ratio_range: Tuple[float, float] = (0.3, 1 / 0.3),
                 mode: str = 'rand',
                 max_attempts: int = 10):
        assert mode in ('rand', 'const'), mode
        self.erase_prob = erase_prob
        self.area_range = area_range
        self.aspect_ratio_range = aspect_ratio_range
        self.mode = mode
        self.max_attempts = max_attempts

    def _box(self, h: int, w: int) -> Optional[Tuple[int, int, int, int]]:
        log_ratio = np.log(self.aspect_ratio_range)
        for _ in range(self.max_attempts):
            area = np.random.uniform(*self.area_range) * h * w
            ratio = np.exp(np.random.uniform(*log_ratio))
            eh = int(round(math.sqrt(area * ratio)))
            ew = int(round(math.sqrt(area / ratio)))
            if 0 < eh < h and 0 < ew < w:
                y1 = np.random.randint(0, h - eh + 1)
                x1 = np.random.randint(0, w - ew + 1)
                return x1, y1, x1 + ew, y1 + eh
        return None

    def transform(self, results: dict) -> dict:
        results['erase_bbox'] = None
        if np.random.rand() >= self.erase_prob:
            return results
        imgs = results['imgs']
        box = self._box(*imgs.shape[1:3])
        if box is None:
            return results
        x1, y1, x2, y2 = box
        imgs = np.array(imgs)  # never write into a caller's buffer
        shape = ((1, y2 - y1, x2 - x1, 3) if self.mode == 'rand' else
                 (1, 1, 1, 3))
        imgs[:, y1:y2, x1:x2] = np.random.randint(
            0, 256, shape, dtype=np.uint8)
        results['imgs'] = imgs
        results['erase_bbox'] = np.array(box, dtype=np.int64)
        return results
