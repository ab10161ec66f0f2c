"""Loading of structured priors (boxes and keypoints from mmdet/mmpose,
``docs/priors.md``) aligned to the sampled frames."""
import logging
import os.path as osp
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from mvitx.registry import TRANSFORMS
from mvitx.structures import PAD_TYPE, PERSON
from mvitx.structures.bbox import box_iou
from ..prior_store import (KEYPOINT3D_LAYOUTS, KEYPOINT_LAYOUTS, align_priors,
                           load_priors)


@TRANSFORMS.register_module()
class LoadPriors(BaseTransform):
    """Loads a video's (or image's) prior file and aligns it to the sampled
    frames.

    Each sampled frame takes the priors of the nearest stored frame when it
    is at most ``max_gap`` frames away; otherwise its slots are empty (box
    type -1, keypoint score 0). A sample without ``prior_file`` (its
    dataset has no ``prior_prefix``) gets empty priors (``M = P = 0``). A
    ``prior_file`` that does not exist is handled by ``on_missing``:

    - ``'raise'``: a ``FileNotFoundError`` naming the file (a wrong
      ``prior_prefix`` must not train a plain model in a top-down run);
    - ``'warn'``: the sample gets empty priors, and every missing file met
      for the first time is logged as a WARNING with the running count of
      distinct missing files and the first three names. The count belongs
      to this copy of the transform: each dataloader worker has its own,
      and workers that are not persistent start from a fresh copy every
      epoch, so there it counts per epoch and worker; with persistent
      workers (or ``num_workers=0``) it counts over the run, and a file is
      reported once;
    - ``'skip'``: the sample gets empty priors; only the first missing file
      is logged (INFO), for datasets where only some videos have priors.

    A file that exists but is broken raises
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
    ``prior_box_person`` ``(T, M)`` int64 (the person a box belongs to),
    ``prior_box_classes`` ``(T, M)`` int64 (detector class id),
    ``prior_box_links`` ``(T, M)`` int64 (the slot of the hand or person
    box an object is linked to; all three -1 for none,
    ``docs/priors.md``), ``prior_keypoints`` ``(T, P, K, 3)`` float32
    ``(x, y, score)``, ``keypoint_flip_pairs`` (list of ``(i, j)``) and,
    when the file has 3D poses, ``prior_keypoints3d`` ``(T, P, K3, 4)``
    float32 ``(x, y, z, score)`` and ``keypoint3d_flip_pairs`` (camera
    coordinates: only a horizontal flip changes them, see ``Flip``).

    Args:
        max_gap (int): Largest distance, in frames, between a sampled frame
            and the stored frame whose priors it takes. Defaults to 8.
        keypoint_layout (str, optional): Expected layout (a key of
            :data:`~mvitx.datasets.prior_store.KEYPOINT_LAYOUTS`). If set,
            a file with another layout raises ``ValueError`` and samples
            without priors get ``K`` and flip pairs of this layout, so every
            sample of a dataset has the same ``K``. Defaults to None.
        on_missing (str): ``'raise'``, ``'warn'`` or ``'skip'``: what a
            ``prior_file`` that does not exist does (see above). Defaults to
            ``'warn'``.

    Examples:
        >>> pipeline = [
        ...     dict(type='DecordInit'), dict(type='SampleFrames',
        ...     clip_len=16, frame_interval=4), dict(type='DecordDecode'),
        ...     dict(type='LoadPriors', max_gap=8,
        ...          keypoint_layout='coco_wholebody', on_missing='raise'),
        ...     dict(type='RandomResizedCrop'),
        ...     dict(type='Resize', scale=(224, 224)), dict(type='Flip')]
    """

    #: How many missing file names the warnings list.
    num_missing_names = 3

    def __init__(self,
                 max_gap: int = 8,
                 keypoint_layout: Optional[str] = None,
                 on_missing: str = 'warn'):
        if on_missing not in ('raise', 'warn', 'skip'):
            raise ValueError("on_missing must be 'raise', 'warn' or 'skip', "
                             f'got {on_missing!r}')
        if max_gap < 0:
            raise ValueError(f'max_gap must be >= 0, got {max_gap}')
        if keypoint_layout is not None and \
                keypoint_layout not in KEYPOINT_LAYOUTS:
            raise ValueError(f'unknown keypoint_layout {keypoint_layout!r} '
                             f'(known: {sorted(KEYPOINT_LAYOUTS)})')
        self.max_gap = max_gap
        self.keypoint_layout = keypoint_layout
        self.on_missing = on_missing
        # Distinct missing files this copy has met, and the first names.
        self._missing = set()
        self._missing_names = []

    def _empty(self, num_frames: int) -> dict:
        layout = KEYPOINT_LAYOUTS.get(self.keypoint_layout)
        num_keypoints = layout.num_keypoints if layout else 0
        return dict(
            prior_bboxes=np.zeros((num_frames, 0, 4), np.float32),
            prior_box_types=np.zeros((num_frames, 0), np.int64),
            prior_box_scores=np.zeros((num_frames, 0), np.float32),
            prior_box_person=np.zeros((num_frames, 0), np.int64),
            prior_box_classes=np.zeros((num_frames, 0), np.int64),
            prior_box_links=np.zeros((num_frames, 0), np.int64),
            prior_keypoints=np.zeros((num_frames, 0, num_keypoints, 3),
                                     np.float32),
            keypoint_flip_pairs=list(layout.flip_pairs) if layout else [])

    def _report_missing(self, path: str) -> None:
        """Raises or logs a ``prior_file`` that does not exist, as
        ``on_missing`` says."""
        if self.on_missing == 'raise':
            raise FileNotFoundError(
                f'LoadPriors: prior file {path} does not exist (check the '
                "dataset's prior_prefix; on_missing='warn' or 'skip' trains "
                'such samples without priors)')
        if path in self._missing:
            return
        self._missing.add(path)
        if len(self._missing_names) < self.num_missing_names:
            self._missing_names.append(path)
        if self.on_missing == 'warn':
            print_log(
                f'LoadPriors: no prior file {path}; '
                f'{len(self._missing)} missing prior file(s) so far in this '
                f'process (first: {", ".join(self._missing_names)}); their '
                'samples get empty priors',
                logger='current',
                level=logging.WARNING)
        elif len(self._missing) == 1:
            print_log(
                f'LoadPriors: no prior file {path}; samples without '
                "priors get empty ones (on_missing='skip', reported once)",
                logger='current')

    def transform(self, results: dict) -> dict:
        frame_inds = np.asarray(results['frame_inds']).reshape(-1)
        path = results.get('prior_file')
        if path is None or not osp.isfile(path):
            if path is not None:
                self._report_missing(path)
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
        for key in ('box_person', 'box_classes', 'box_links'):
            results[f'prior_{key}'] = aligned[key]
        results['prior_keypoints'] = aligned['keypoints']
        results['keypoint_flip_pairs'] = [
            (int(i), int(j)) for i, j in priors['keypoint_flip_pairs']
        ]
        if 'keypoints3d' in aligned:
            results['prior_keypoints3d'] = aligned['keypoints3d']
            layout = KEYPOINT3D_LAYOUTS[priors['keypoints3d_layout']]
            results['keypoint3d_flip_pairs'] = list(layout.flip_pairs)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_gap={self.max_gap}, '
                f'keypoint_layout={self.keypoint_layout!r}, '
                f'on_missing={self.on_missing!r})')


@TRANSFORMS.register_module()
class SelectActorPriors(BaseTransform):
    """Keeps only the priors of the actors a sample is about (AVA: the
    people whose actions are classified), so a top-down module looks at
    *their* hands, faces and objects, not at bystanders'.

    Actors are ``gt_bboxes`` when present (training), else ``proposals``.
    In every frame, a person box (type 0) belongs to an actor when its IoU
    with an actor box is at least ``iou_thr``. A hand or face box is kept
    when it is linked (``prior_box_person``) to such a person, or, when it
    is linked to nobody, when its centre lies inside an actor region (a
    matched person box or an actor box) grown by ``margin`` of its size on
    each side. An object linked to a hand or person box
    (``prior_box_links``) is kept exactly when that box is; an unlinked
    object (priors without links) follows the rule of unlinked parts.
    Other slots become empty (type -1) and the keypoints (and 3D keypoints)
    of unmatched persons get score 0. Runs after :class:`LoadPriors`,
    before the geometric transforms or after them (boxes and priors share
    coordinates).

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
        unlinked = np.full(types.shape, -1, np.int64)
        person = results.get('prior_box_person', unlinked)
        links = results.get('prior_box_links', unlinked)
        keypoints = results['prior_keypoints'].copy()
        keypoints3d = results.get('prior_keypoints3d')
        if keypoints3d is not None:
            keypoints3d = keypoints3d.copy()
        for t in range(types.shape[0]):
            is_person = types[t] == PERSON
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
            keep &= types[t] != PAD_TYPE
            # links point at person and hand boxes, whose keep is final
            has_link = links[t] >= 0
            keep[has_link] = keep[links[t][has_link]]
            types[t][~keep] = PAD_TYPE
            persons = np.flatnonzero(is_person & ~matched)
            persons = person[t][persons]
            persons = persons[(persons >= 0) & (persons < keypoints.shape[1])]
            keypoints[t, persons, :, 2] = 0
            if keypoints3d is not None:
                keypoints3d[t, persons, :, 3] = 0
        results['prior_box_types'] = types
        results['prior_keypoints'] = keypoints
        if keypoints3d is not None:
            results['prior_keypoints3d'] = keypoints3d
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(iou_thr={self.iou_thr}, '
                f'margin={self.margin})')
