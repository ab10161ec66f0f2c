"""Reordering the frames of decoded clips: the probe of
``tools/analysis/temporal_sensitivity.py``, which measures how much a model
depends on the order of time."""
import zlib

import numpy as np
from mmcv.transforms import BaseTransform

from mvitx.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PermuteFrames(BaseTransform):
    """Reorders the frames of every clip of a sample.

    Modes: ``'identity'`` (the frames as they are: the control that the
    probe itself changes nothing), ``'shuffle'`` (a random permutation per
    clip, the same for a given ``seed`` and file), ``'reverse'`` (time runs
    backwards) and ``'repeat'`` (the clip's middle frame, ``clip_len``
    times: no motion at all). ``frame_inds`` follows the frames, so priors
    loaded afterwards stay aligned. A one-frame sample (an image) is left
    as it is.

    Required keys: ``imgs`` ``(num_clips * clip_len, H, W, 3)``,
    ``frame_inds``. Optional: ``clip_len`` (default: all frames are one
    clip), ``filename`` (seeds the shuffle). Modified: ``imgs``,
    ``frame_inds``.

    Args:
        mode (str): ``'identity'``, ``'shuffle'``, ``'reverse'`` or
            ``'repeat'``.
        seed (int): Seed of the shuffles. Defaults to 0.
    """

    MODES = ('identity', 'shuffle', 'reverse', 'repeat')

    def __init__(self, mode: str, seed: int = 0):
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, got {mode!r}')
        self.mode = mode
        self.seed = seed

    def _clip_order(self, clip_len: int, rng: np.random.Generator):
        if self.mode == 'shuffle':
            return rng.permutation(clip_len)
        if self.mode == 'reverse':
            return np.arange(clip_len)[::-1]
        if self.mode == 'repeat':
            return np.full(clip_len, clip_len // 2)
        return np.arange(clip_len)

    def transform(self, results: dict) -> dict:
        total = len(results['imgs'])
        clip_len = results.get('clip_len') or total
        if total <= 1:
            return results
        if total % clip_len:
            raise ValueError(f'{total} frames are not whole clips of '
                             f'{clip_len}')
        # Seeded by the file, not by a global RNG: every worker, rank and
        # run shuffles a given video the same way.
        name = str(results.get('filename', results.get('img_path', '')))
        rng = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
        order = np.concatenate([
            start + self._clip_order(clip_len, rng)
            for start in range(0, total, clip_len)
        ])
        results['imgs'] = results['imgs'][order]
        results['frame_inds'] = np.asarray(results['frame_inds'])[order]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(mode={self.mode!r}, seed={self.seed})'
