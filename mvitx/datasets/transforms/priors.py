"""Loading of structured priors (boxes and keypoints from mmdet/mmpose,
``docs/priors.md``) aligned to the sampled frames."""
import os.path as osp
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from mvitx.registry import TRANSFORMS
from ..prior_store import KEYPOINT_LAYOUTS, align_priors, load_priors


@TRANSFORMS.register_module()
class LoadPriors(BaseTransform):
    """Loads a video's (or image's) prior file and aligns it to the sampled
    frames.

    Each sampled frame takes the priors of the nearest stored frame when it
    is at most ``max_gap`` frames away; otherwise its slots are empty (box
    type -1, keypoint score 0). A sample without ``prior_file``, or whose
    file does not exist, gets empty priors (``M = P = 0``) and is not an
    error; a file that exists but is broken raises
    :class:`~mvitx.datasets.prior_store.PriorFileError`.

    Place it after decoding (``DecordDecode``/``LoadImage``) and before the
    geometric transforms, which move the prior boxes and keypoints with the
    frames. When the frames were decoded at another size than the one the
    priors were extracted at (``video_size``), boxes and keypoints are
    rescaled to ``ori_shape``.

    Required keys: ``frame_inds``; optional ``prior_file``, ``ori_shape``.
    Added keys: ``prior_bboxes`` ``(T, M, 4)`` float32 xyxy pixels,
    ``prior_box_types`` ``(T, M)`` int64 (0 person, 1 hand, 2 face,
    3 object, -1 empty), ``prior_box_scores`` ``(T, M)`` float32,
    ``prior_keypoints`` ``(T, P, K, 3)`` float32 ``(x, y, score)``,
    ``keypoint_flip_pairs`` (list of ``(i, j)``).

    Args:
        max_gap (int): Largest distance, in frames, between a sampled frame
            and the stored frame whose priors it takes. Defaults to 8.
        keypoint_layout (str, optional): Expected layout (a key of
            :data:`~mvitx.datasets.prior_store.KEYPOINT_LAYOUTS`). If set,
            a file with another layout raises ``ValueError`` and samples
            without priors get ``K`` and flip pairs of this layout, so every
            sample of a dataset has the same ``K``. Defaults to None.

    Examples:
        >>> pipeline = [
        ...     dict(type='DecordInit'), dict(type='SampleFrames',
        ...     clip_len=16, frame_interval=4), dict(type='DecordDecode'),
        ...     dict(type='LoadPriors', max_gap=8,
        ...          keypoint_layout='coco_wholebody'),
        ...     dict(type='RandomResizedCrop'),
        ...     dict(type='Resize', scale=(224, 224)), dict(type='Flip')]
    """

    def __init__(self,
                 max_gap: int = 8,
                 keypoint_layout: Optional[str] = None):
        if max_gap < 0:
            raise ValueError(f'max_gap must be >= 0, got {max_gap}')
        if keypoint_layout is not None and \
                keypoint_layout not in KEYPOINT_LAYOUTS:
            raise ValueError(f'unknown keypoint_layout {keypoint_layout!r} '
                             f'(known: {sorted(KEYPOINT_LAYOUTS)})')
        self.max_gap = max_gap
        self.keypoint_layout = keypoint_layout
        self._warned_missing = False

    def _empty(self, num_frames: int) -> dict:
        layout = KEYPOINT_LAYOUTS.get(self.keypoint_layout)
        num_keypoints = layout.num_keypoints if layout else 0
        return dict(
            prior_bboxes=np.zeros((num_frames, 0, 4), np.float32),
            prior_box_types=np.zeros((num_frames, 0), np.int64),
            prior_box_scores=np.zeros((num_frames, 0), np.float32),
            prior_keypoints=np.zeros((num_frames, 0, num_keypoints, 3),
                                     np.float32),
            keypoint_flip_pairs=list(layout.flip_pairs) if layout else [])

    def transform(self, results: dict) -> dict:
        frame_inds = np.asarray(results['frame_inds']).reshape(-1)
        path = results.get('prior_file')
        if path is None or not osp.isfile(path):
            if path is not None and not self._warned_missing:
                print_log(
                    f'LoadPriors: no prior file {path}; samples without '
                    'priors get empty ones (reported once)',
                    logger='current')
                self._warned_missing = True
            results.update(self._empty(len(frame_inds)))
            return results
        priors = load_priors(path)
        if self.keypoint_layout is not None and \
                priors['keypoint_layout'] != self.keypoint_layout:
            raise ValueError(f'{path} has keypoint_layout '
                             f'{priors["keypoint_layout"]!r}, expected '
                             f'{self.keypoint_layout!r}')
        ori_shape = results.get('ori_shape')
        aligned = align_priors(
            priors,
            frame_inds,
            self.max_gap,
            frame_size=None if ori_shape is None else tuple(ori_shape[:2]))
        results['prior_bboxes'] = aligned['boxes']
        results['prior_box_types'] = aligned['box_types'].astype(np.int64)
        results['prior_box_scores'] = aligned['box_scores']
        results['prior_keypoints'] = aligned['keypoints']
        results['keypoint_flip_pairs'] = [
            (int(i), int(j)) for i, j in priors['keypoint_flip_pairs']
        ]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_gap={self.max_gap}, '
                f'keypoint_layout={self.keypoint_layout!r})')
