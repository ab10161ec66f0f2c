"""Loading of structured priors (boxes and keypoints from mmdet/mmpose,
``docs/priors.md``) aligned to the sampled frames."""
import os.path as osp
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from mvitx.registry import TRANSFORMS
from mvitx.structures.bbox import box_iou
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
    ``prior_box_person`` ``(T, M)`` int64 (the person a box belongs to,
    ``docs/priors.md``),
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
            prior_box_person=np.zeros((num_frames, 0), np.int64),
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
        results['prior_box_person'] = aligned['box_person'].astype(np.int64)
        results['prior_keypoints'] = aligned['keypoints']
        results['keypoint_flip_pairs'] = [
            (int(i), int(j)) for i, j in priors['keypoint_flip_pairs']
        ]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_gap={self.max_gap}, '
                f'keypoint_layout={self.keypoint_layout!r})')


@TRANSFORMS.register_module()
class SelectActorPriors(BaseTransform):
    """Keeps only the priors of the actors a sample is about (AVA: the
    people whose actions are classified), so a top-down module looks at
    *their* hands and faces, not at bystanders'.

    Actors are ``gt_bboxes`` when present (training), else ``proposals``.
    In every frame, a person box (type 0) belongs to an actor when its IoU
    with an actor box is at least ``iou_thr``. A part box (hand, face,
    object) is kept when it is linked (``prior_box_person``) to such a
    person, or, when it is linked to nobody, when its centre lies inside an
    actor region (a matched person box or an actor box) grown by
    ``margin`` of its size on each side. Other slots become empty (type
    -1) and the keypoints of unmatched persons get score 0. Runs after
    :class:`LoadPriors`, before the geometric transforms or after them
    (boxes and priors share coordinates).

    Args:
        iou_thr (float): Person-to-actor IoU for a match. Defaults to 0.3
            (actors are boxed at the keyframe, people move within a clip).
        margin (float): Growth of actor regions for unlinked parts (held
            objects sit beside the body). Defaults to 0.25.
    """

    def __init__(self, iou_thr: float = 0.3, margin: float = 0.25):
        self.iou_thr = iou_thr
        self.margin = margin

    def transform(self, results: dict) -> dict:
        actors = results.get('gt_bboxes')
        if actors is None or len(actors) == 0:
            actors = results.get('proposals')
        actors = np.zeros((0, 4), np.float32) if actors is None else \
            np.asarray(actors, np.float32).reshape(-1, 4)
        boxes = results['prior_bboxes']
        types = results['prior_box_types'].copy()
        person = results.get('prior_box_person',
                             np.full(types.shape, -1, np.int64))
        keypoints = results['prior_keypoints'].copy()
        for t in range(types.shape[0]):
            is_person = types[t] == 0
            matched = np.zeros(types.shape[1], bool)
            if is_person.any() and len(actors):
                iou = box_iou(boxes[t][is_person], actors)
                matched[np.flatnonzero(is_person)] = \
                    iou.max(1) >= self.iou_thr
            regions = np.concatenate([boxes[t][matched], actors])
            grow = (regions[:, 2:] - regions[:, :2]) * self.margin
            regions = np.concatenate(
                [regions[:, :2] - grow, regions[:, 2:] + grow], 1)
            centre = (boxes[t][:, :2] + boxes[t][:, 2:]) / 2
            inside = ((centre[:, None] >= regions[None, :, :2]) &
                      (centre[:, None] <= regions[None, :, 2:])).all(-1).any(
                          1) if len(regions) else np.zeros(len(centre), bool)
            linked = person[t] >= 0
            owner_matched = np.zeros(types.shape[1], bool)
            owner_matched[linked] = matched[person[t][linked]]
            keep = np.where(is_person, matched,
                            np.where(linked, owner_matched, inside))
            types[t][~keep] = -1
            persons = np.flatnonzero(is_person & ~matched)
            persons = person[t][persons]
            persons = persons[(persons >= 0) & (persons < keypoints.shape[1])]
            keypoints[t, persons, :, 2] = 0
        results['prior_box_types'] = types
        results['prior_keypoints'] = keypoints
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(iou_thr={self.iou_thr}, '
                f'margin={self.margin})')
