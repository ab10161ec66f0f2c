"""Structured priors from an mmdet detector and an mmpose top-down model.

Both models are built and run through their libraries' official Python APIs
(``mmdet.apis.init_detector``/``inference_detector``,
``mmpose.apis.init_model``/``inference_topdown``), so any detector or
top-down pose model those libraries support can be used. mmdet and mmpose
are optional extras (``pip install mvitx[priors]``); they are imported when
a :class:`PriorExtractor` is created.
"""
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.registry import DefaultScope

from mvitx.datasets.prior_store import (BOX_TYPES, KEYPOINT_LAYOUTS, PAD_TYPE,
                                        KeypointLayout)
from mvitx.utils import install_safe_checkpoint_loader

_INSTALL_HINT = ('structured priors need mmdet and mmpose: '
                 'pip install "mvitx[priors]" (mmpose with --no-deps, see '
                 'docs/priors.md)')


def layout_of_pose_model(dataset_meta: dict) -> str:
    """The prior-store keypoint layout of an mmpose model.

    Args:
        dataset_meta (dict): The model's ``dataset_meta`` (mmpose metainfo).

    Returns:
        str: ``'coco_wholebody'`` (133 keypoints) or ``'coco'`` (17).

    Raises:
        ValueError: For other keypoint sets.
    """
    num = dataset_meta.get('num_keypoints')
    for name in ('coco_wholebody', 'coco'):
        if KEYPOINT_LAYOUTS[name].num_keypoints == num:
            return name
    raise ValueError(
        f'pose model {dataset_meta.get("dataset_name")!r} has {num} '
        'keypoints; supported layouts: COCO-WholeBody (133) and COCO (17)')


def boxes_from_keypoints(keypoints: np.ndarray,
                         groups: Sequence[Sequence[int]],
                         score_thr: float,
                         min_keypoints: int = 3,
                         padding: float = 0.25,
                         min_size: float = 4.0) -> np.ndarray:
    """Boxes around groups of confident keypoints (e.g. a hand's 21
    keypoints), one per (person, group).

    Args:
        keypoints (np.ndarray): ``(P, K, 3)`` ``(x, y, score)``.
        groups (Sequence[Sequence[int]]): Keypoint ids of each part.
        score_thr (float): Keypoints below this score are ignored.
        min_keypoints (int): Parts with fewer confident keypoints get no
            box. Defaults to 3.
        padding (float): Each side grows by this fraction of the box's
            larger side. Defaults to 0.25.
        min_size (float): Smallest box side in pixels. Defaults to 4.

    Returns:
        np.ndarray: ``(n, 7)`` rows ``(x1, y1, x2, y2, score, person,
        group)``; ``score`` is the mean score of the keypoints used.
    """
    rows = []
    for person, kpts in enumerate(keypoints):
        for group_id, group in enumerate(groups):
            part = kpts[list(group)]
            part = part[part[:, 2] >= score_thr]
            if len(part) < min_keypoints:
                continue
            lo, hi = part[:, :2].min(0), part[:, :2].max(0)
            centre = (lo + hi) / 2
            half = np.maximum((hi - lo) / 2 + padding * (hi - lo).max(),
                              min_size / 2)
            rows.append([
                *(centre - half), *(centre + half), part[:, 2].mean(), person,
                group_id
            ])
    return np.asarray(rows, np.float32).reshape(-1, 7)


class PriorExtractor:
    """Detects persons (and hands/faces when the detector has those classes)
    and estimates their keypoints, frame by frame.

    Hand and face boxes come from the detector when its classes include
    ``'hand'``/``'face'``; otherwise (``derive_parts=True``) they are
    derived from the pose model's hand and face keypoints.

    Args:
        det_config (str): mmdet config file.
        pose_config (str): mmpose top-down config file (COCO-WholeBody or
            COCO body keypoints).
        det_checkpoint (str, optional): mmdet checkpoint; None keeps the
            random initialisation (for tests only). Defaults to None.
        pose_checkpoint (str, optional): mmpose checkpoint; None keeps the
            random initialisation. Defaults to None.
        device (str): Torch device, e.g. ``'cuda:0'``. Defaults to ``'cpu'``.
        det_score_thr (float): Minimum detection score. Defaults to 0.5.
        kpt_score_thr (float): Minimum keypoint score for deriving part
            boxes. Defaults to 0.3.
        max_persons (int): Most persons kept per frame (highest scores
            first). Defaults to 10.
        max_parts (int): Most detected hand and face boxes kept per frame,
            each. Defaults to 20.
        batch_size (int): Frames per detector call. Defaults to 8.
        derive_parts (bool): Derive hand/face boxes from keypoints when the
            detector has no such class. Defaults to True.
    """

    def __init__(self,
                 det_config: str,
                 pose_config: str,
                 det_checkpoint: Optional[str] = None,
                 pose_checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 det_score_thr: float = 0.5,
                 kpt_score_thr: float = 0.3,
                 max_persons: int = 10,
                 max_parts: int = 20,
                 batch_size: int = 8,
                 derive_parts: bool = True):
        try:
            from mmdet.apis import init_detector
            from mmpose.apis import init_model
            from mmpose.utils import adapt_mmdet_pipeline
        except ImportError as err:
            raise ImportError(f'{_INSTALL_HINT} ({err})') from err
        for name, ckpt in (('detector', det_checkpoint), ('pose model',
                                                          pose_checkpoint)):
            if ckpt is None:
                warnings.warn(f'no {name} checkpoint: using random weights, '
                              'the priors will be meaningless')
        # OpenMMLab checkpoints hold numpy objects that torch >= 2.6 refuses
        # by default; load them through mvitx's allowlist.
        install_safe_checkpoint_loader()
        with DefaultScope.overwrite_default_scope('mmdet'):
            self.detector = init_detector(
                det_config, det_checkpoint, device=device)
        self.detector.cfg = adapt_mmdet_pipeline(self.detector.cfg)
        with DefaultScope.overwrite_default_scope('mmpose'):
            self.pose_model = init_model(
                pose_config, pose_checkpoint, device=device)
        self.keypoint_layout = layout_of_pose_model(
            self.pose_model.dataset_meta)
        classes = [
            str(c).lower() for c in self.detector.dataset_meta['classes']
        ]
        if 'person' not in classes:
            raise ValueError(f'detector {det_config} has no "person" class '
                             f'(classes: {classes[:10]}...)')
        #: detector label -> prior box type
        self.label_types = {
            classes.index(name): type_id
            for name, type_id in BOX_TYPES.items()
            if name in classes and name != 'object'
        }
        self.det_score_thr = det_score_thr
        self.kpt_score_thr = kpt_score_thr
        self.max_persons = max_persons
        self.max_parts = max_parts
        self.batch_size = batch_size
        self.derive_parts = derive_parts

    @property
    def layout(self) -> KeypointLayout:
        """The pose model's keypoint layout."""
        return KEYPOINT_LAYOUTS[self.keypoint_layout]

    @property
    def settings(self) -> dict:
        """Everything that decides the priors, for the manifest."""
        return dict(
            det_classes=list(self.detector.dataset_meta['classes']),
            detected_types={
                int(k): v
                for k, v in self.label_types.items()
            },
            keypoint_layout=self.keypoint_layout,
            det_score_thr=self.det_score_thr,
            kpt_score_thr=self.kpt_score_thr,
            max_persons=self.max_persons,
            max_parts=self.max_parts,
            derive_parts=self.derive_parts)

    def _detect(self, frames: Sequence[np.ndarray]) -> List[dict]:
        """Runs the detector on RGB frames; per frame a dict of ``boxes``
        ``(n, 4)``, ``scores`` ``(n,)`` and ``types`` ``(n,)`` above the
        threshold and clipped to the frame, persons capped at
        ``max_persons``, parts at ``max_parts`` per type."""
        from mmdet.apis import inference_detector
        bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
        with DefaultScope.overwrite_default_scope('mmdet'):
            samples = inference_detector(self.detector, bgr)
        out = []
        for frame, sample in zip(frames, samples):
            pred = sample.pred_instances
            height, width = frame.shape[:2]
            boxes = pred.bboxes.cpu().numpy().astype(np.float32).clip(
                0, [width, height] * 2)
            scores = pred.scores.cpu().numpy().astype(np.float32)
            labels = pred.labels.cpu().numpy()
            keep_boxes, keep_scores, keep_types = [], [], []
            for label, type_id in self.label_types.items():
                cap = (
                    self.max_persons
                    if type_id == BOX_TYPES['person'] else self.max_parts)
                idx = np.nonzero((labels == label)
                                 & (scores >= self.det_score_thr))[0]
                idx = idx[np.argsort(-scores[idx], kind='stable')][:cap]
                keep_boxes.append(boxes[idx])
                keep_scores.append(scores[idx])
                keep_types.append(np.full(len(idx), type_id, np.int8))
            out.append(
                dict(
                    boxes=np.concatenate(keep_boxes).reshape(-1, 4),
                    scores=np.concatenate(keep_scores),
                    types=np.concatenate(keep_types)))
        return out

    def _pose(self, frame: np.ndarray, person_boxes: np.ndarray) -> np.ndarray:
        """Keypoints ``(P, K, 3)`` of the persons in ``person_boxes``."""
        from mmpose.apis import inference_topdown
        num_k = self.layout.num_keypoints
        if len(person_boxes) == 0:
            # mmpose would take the whole frame as one person
            return np.zeros((0, num_k, 3), np.float32)
        with DefaultScope.overwrite_default_scope('mmpose'):
            samples = inference_topdown(
                self.pose_model,
                np.ascontiguousarray(frame[..., ::-1]),
                person_boxes,
                bbox_format='xyxy')
        kpts = np.zeros((len(samples), num_k, 3), np.float32)
        for p, sample in enumerate(samples):
            kpts[p, :, :2] = sample.pred_instances.keypoints[0]
            kpts[p, :, 2] = sample.pred_instances.keypoint_scores[0]
        return kpts

    def _frame_priors(self, frame: np.ndarray, det: dict) -> dict:
        """One frame's boxes (persons first, in keypoint order), scores,
        types, person links and keypoints."""
        person = det['types'] == BOX_TYPES['person']
        keypoints = self._pose(frame, det['boxes'][person])
        boxes = [det['boxes'][person], det['boxes'][~person]]
        scores = [det['scores'][person], det['scores'][~person]]
        types = [det['types'][person], det['types'][~person]]
        persons = [np.arange(person.sum()), np.full((~person).sum(), -1)]
        detected = set(self.label_types.values())
        if self.derive_parts:
            parts = [(BOX_TYPES['hand'], self.layout.hand_groups),
                     (BOX_TYPES['face'],
                      (self.layout.face_group, ) if self.layout.face_group else
                      ())]
            for type_id, groups in parts:
                if type_id in detected or not groups:
                    continue
                rows = boxes_from_keypoints(keypoints, groups,
                                            self.kpt_score_thr)
                height, width = frame.shape[:2]
                boxes.append(rows[:, :4].clip(0, [width, height] * 2))
                scores.append(rows[:, 4])
                types.append(np.full(len(rows), type_id, np.int8))
                persons.append(rows[:, 5].astype(np.int64))
        return dict(
            boxes=np.concatenate(boxes).astype(np.float32),
            scores=np.concatenate(scores).astype(np.float32),
            types=np.concatenate(types).astype(np.int8),
            persons=np.concatenate(persons).astype(np.int64),
            keypoints=keypoints)

    def __call__(self, frames: Sequence[np.ndarray]) -> List[dict]:
        """Priors of each frame.

        Args:
            frames (Sequence[np.ndarray]): ``F`` frames ``(H, W, 3)`` uint8
                RGB.

        Returns:
            list[dict]: Per frame ``boxes`` ``(m, 4)`` xyxy pixels (persons
            first, in keypoint order), ``scores`` ``(m,)``, ``types``
            ``(m,)``, ``persons`` ``(m,)`` (the person a box belongs to, -1
            none) and ``keypoints`` ``(p, K, 3)``; stack them with
            :func:`stack_frame_priors`.
        """
        per_frame = []
        for start in range(0, len(frames), self.batch_size):
            batch = frames[start:start + self.batch_size]
            per_frame += [
                self._frame_priors(frame, det)
                for frame, det in zip(batch, self._detect(batch))
            ]
        return per_frame


def stack_frame_priors(per_frame: Sequence[dict],
                       num_keypoints: int) -> Dict[str, np.ndarray]:
    """Pads per-frame priors (``boxes`` ``(m, 4)``, ``scores``, ``types``,
    ``persons`` ``(m,)``, ``keypoints`` ``(p, K, 3)``) to ``(F, M, ...)``
    and ``(F, P, K, 3)`` arrays; empty slots get type -1 and score 0."""
    num = len(per_frame)
    m = max([len(f['boxes']) for f in per_frame], default=0)
    p = max([len(f['keypoints']) for f in per_frame], default=0)
    out = dict(
        boxes=np.zeros((num, m, 4), np.float32),
        box_scores=np.zeros((num, m), np.float32),
        box_types=np.full((num, m), PAD_TYPE, np.int8),
        box_person=np.full((num, m), -1, np.int64),
        keypoints=np.zeros((num, p, num_keypoints, 3), np.float32))
    for i, frame in enumerate(per_frame):
        n = len(frame['boxes'])
        out['boxes'][i, :n] = frame['boxes']
        out['box_scores'][i, :n] = frame['scores']
        out['box_types'][i, :n] = frame['types']
        out['box_person'][i, :n] = frame['persons']
        out['keypoints'][i, :len(frame['keypoints'])] = frame['keypoints']
    return out
