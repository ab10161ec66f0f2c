"""Structured priors from an mmdet detector, an mmpose top-down model and,
optionally, an mmpose pose lifter.

The models are built and run through their libraries' official Python APIs
(``mmdet.apis.init_detector``/``inference_detector``,
``mmpose.apis.init_model``/``inference_topdown``/
``inference_pose_lifter_model``), so any detector, top-down pose model or
H36M pose lifter those libraries support can be used. mmdet and mmpose are
optional extras (``pip install mvitx[priors]``); they are imported when a
:class:`PriorExtractor` is created.
"""
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.registry import DefaultScope

from mvitx.apis.detector import class_key, init_mmdet_detector
from mvitx.datasets.prior_store import (KEYPOINT3D_LAYOUTS, KEYPOINT_LAYOUTS,
                                        KeypointLayout)
from mvitx.structures import FACE, HAND, OBJECT, PAD_TYPE, PERSON
from mvitx.structures.bbox import box_iou
from mvitx.utils import install_safe_checkpoint_loader

#: COCO classes kept as object boxes by default: things a person holds,
#: carries or works with the hands, whose detail a hand box does not
#: cover (``docs/priors.md``). Vehicles, animals, furniture, appliances and
#: fixtures (and ``clock``, in COCO mostly on walls and towers) are left
#: out: people ride, sit on or stand by them, and their large boxes would
#: spend the top-down token budget on context.
HELD_OBJECT_CLASSES = ('backpack', 'umbrella', 'handbag', 'tie', 'suitcase',
                       'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
                       'baseball bat', 'baseball glove', 'skateboard',
                       'surfboard', 'tennis racket', 'bottle', 'wine glass',
                       'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana',
                       'apple', 'sandwich', 'orange', 'broccoli', 'carrot',
                       'hot dog', 'pizza', 'donut', 'cake', 'laptop', 'mouse',
                       'remote', 'keyboard', 'cell phone', 'book', 'vase',
                       'scissors', 'teddy bear', 'hair drier', 'toothbrush')
#: Width and height of Human3.6M's frames. mmpose's H36M lifters move each
#: 2D pose into the dataset's average box (``stats_info``), i.e. into
#: H36M's pixel frame, so that frame is the one to normalise by.
H36M_FRAME_SIZE = (1000, 1002)

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


def layout_of_pose_lifter(dataset_meta: dict) -> str:
    """The prior-store 3D keypoint layout of an mmpose pose lifter.

    Args:
        dataset_meta (dict): The lifter's ``dataset_meta``.

    Returns:
        str: A key of :data:`~mvitx.datasets.prior_store.KEYPOINT3D_LAYOUTS`
        (``'h36m'``).

    Raises:
        ValueError: For other keypoint sets.
    """
    name = dataset_meta.get('dataset_name')
    layout = KEYPOINT3D_LAYOUTS.get(name)
    if layout is None or \
            layout.num_keypoints != dataset_meta.get('num_keypoints'):
        raise ValueError(
            f'pose lifter {name!r} with {dataset_meta.get("num_keypoints")} '
            'keypoints; supported: H36M (17) lifters')
    return name


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


def link_objects(boxes: np.ndarray, types: np.ndarray) -> np.ndarray:
    """Links every object box to a hand or person box of the same frame.

    The linked box is the one the object is nearest to (the gap between
    the boxes, 0 when they touch or overlap); among equally near boxes a
    hand comes before a person, then the larger intersection wins. So an
    object overlapping a hand is linked to the hand, one overlapping only a
    person to the person, and one apart from everybody to the nearest hand
    or person.

    Args:
        boxes (np.ndarray): ``(m, 4)`` xyxy boxes of one frame.
        types (np.ndarray): ``(m,)`` their box types.

    Returns:
        np.ndarray: ``(m,)`` int64: for object boxes the slot of the linked
        box (-1 when the frame has no hand or person), -1 for the others.
    """
    links = np.full(len(types), -1, np.int64)
    objects = np.flatnonzero(types == OBJECT)
    anchors = np.flatnonzero((types == HAND) | (types == PERSON))
    if len(objects) == 0 or len(anchors) == 0:
        return links
    a, b = boxes[objects][:, None], boxes[anchors][None]
    lo = np.maximum(a[..., :2], b[..., :2])
    hi = np.minimum(a[..., 2:], b[..., 2:])
    overlap = np.prod(np.clip(hi - lo, 0, None), -1)  # (objects, anchors)
    gap = np.linalg.norm(np.clip(lo - hi, 0, None), axis=-1)
    is_person = types[anchors] == PERSON
    for i, slot in enumerate(objects):
        # np.lexsort sorts by the last key first
        best = np.lexsort((-overlap[i], is_person, gap[i]))[0]
        links[slot] = anchors[best]
    return links


def track_persons(boxes: Sequence[np.ndarray],
                  iou_thr: float = 0.3) -> List[np.ndarray]:
    """Track ids for the person boxes of consecutive frames.

    Each box takes the track of the box of the previous frame it overlaps
    most (greedily, highest IoU first, each previous box once) when that
    IoU is at least ``iou_thr``; other boxes start new tracks.

    Args:
        boxes (Sequence[np.ndarray]): Per frame, ``(p, 4)`` xyxy person
            boxes.
        iou_thr (float): Smallest IoU that continues a track. Defaults to
            0.3.

    Returns:
        list[np.ndarray]: Per frame, ``(p,)`` int64 track ids.
    """
    tracks = []
    prev_boxes, prev_ids = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    next_id = 0
    for frame_boxes in boxes:
        ids = np.full(len(frame_boxes), -1, np.int64)
        if len(frame_boxes) and len(prev_boxes):
            # degenerate (zero-area) boxes give 0/0: no match
            with np.errstate(invalid='ignore', divide='ignore'):
                iou = np.nan_to_num(box_iou(frame_boxes, prev_boxes))
            taken = np.zeros(len(prev_boxes), bool)
            for flat in np.argsort(-iou, axis=None, kind='stable'):
                i, j = np.unravel_index(flat, iou.shape)
                if iou[i, j] < iou_thr:
                    break
                if ids[i] < 0 and not taken[j]:
                    ids[i], taken[j] = prev_ids[j], True
        new = ids < 0
        ids[new] = np.arange(next_id, next_id + new.sum())
        next_id += int(new.sum())
        tracks.append(ids)
        prev_boxes, prev_ids = frame_boxes, ids
    return tracks


class PriorExtractor:
    """Detects persons, hands/faces (when the detector has those classes)
    and held objects, estimates the persons' keypoints frame by frame and,
    optionally, lifts them to 3D.

    Hand and face boxes come from the detector when its classes include
    ``'hand'``/``'face'``; otherwise (``derive_parts=True``) they are
    derived from the pose model's hand and face keypoints. The detector's
    classes in ``object_classes`` become object boxes, each keeping its
    detector class id and linked to the hand or person it overlaps or is
    nearest to (:func:`link_objects`).

    Args:
        det_config (str): mmdet config file or the name of a config
            shipped with mmdet (:func:`~mvitx.apis.detector.
            mmdet_config_path`).
        pose_config (str): mmpose top-down config file (COCO-WholeBody or
            COCO body keypoints).
        det_checkpoint (str, optional): mmdet checkpoint; None keeps the
            random initialisation (for tests only). Defaults to None.
        pose_checkpoint (str, optional): mmpose checkpoint; None keeps the
            random initialisation. Defaults to None.
        device (str): Torch device, e.g. ``'cuda:0'``. Defaults to ``'cpu'``.
        det_score_thr (float): Minimum person, hand and face detection
            score. Defaults to 0.5.
        kpt_score_thr (float): Minimum keypoint score for deriving part
            boxes. Defaults to 0.3.
        max_persons (int): Most persons kept per frame (highest scores
            first). Defaults to 10.
        max_parts (int): Most detected hand and face boxes kept per frame,
            each. Defaults to 20.
        batch_size (int): Frames per detector call. Defaults to 8.
        derive_parts (bool): Derive hand/face boxes from keypoints when the
            detector has no such class. Defaults to True.
        object_classes (Sequence[str], optional): Detector class names kept
            as object boxes (compared by :func:`class_key`); each must be a
            class of the detector. None takes those of
            :data:`HELD_OBJECT_CLASSES` the detector has (a person-only
            detector: none, with a warning); an empty sequence keeps no
            objects. Defaults to None.
        object_score_thr (float): Minimum object detection score. Defaults
            to 0.3.
        max_objects (int): Most object boxes kept per frame (highest scores
            first, over all object classes). Defaults to 10.
        pose3d_config (str, optional): mmpose pose lifter config (2D to
            H36M 3D keypoints, e.g. ``video_pose_lift``); None skips 3D
            poses. Defaults to None.
        pose3d_checkpoint (str, optional): Its checkpoint; None keeps the
            random initialisation. Defaults to None.

    Raises:
        ValueError: If the detector has no ``person`` class, an object
            class is not one of its classes or is person/hand/face, or a
            model's keypoints are not a supported layout.
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
                 derive_parts: bool = True,
                 object_classes: Optional[Sequence[str]] = None,
                 object_score_thr: float = 0.3,
                 max_objects: int = 10,
                 pose3d_config: Optional[str] = None,
                 pose3d_checkpoint: Optional[str] = None):
        try:
            from mmpose.apis import init_model
            from mmpose.utils import adapt_mmdet_pipeline
        except ImportError as err:
            raise ImportError(f'{_INSTALL_HINT} ({err})') from err
        checkpoints = [('detector', det_checkpoint),
                       ('pose model', pose_checkpoint)]
        if pose3d_config is not None:
            checkpoints.append(('pose lifter', pose3d_checkpoint))
        for name, ckpt in checkpoints:
            if ckpt is None:
                warnings.warn(f'no {name} checkpoint: using random weights, '
                              'the priors will be meaningless')
        self.detector = init_mmdet_detector(det_config, det_checkpoint, device)
        # OpenMMLab checkpoints hold numpy objects that torch >= 2.6 refuses
        # by default; the pose models' load through mvitx's allowlist too.
        install_safe_checkpoint_loader()
        self.detector.cfg = adapt_mmdet_pipeline(self.detector.cfg)
        classes = [class_key(c) for c in self.detector.dataset_meta['classes']]
        if 'person' not in classes:
            raise ValueError(f'detector {det_config} has no "person" class '
                             f'(classes: {classes[:10]}...)')
        self.object_classes = self._object_classes(det_config, classes,
                                                   object_classes)
        #: detector label -> prior box type
        self.label_types = {
            classes.index(name): type_id
            for name, type_id in (('person', PERSON), ('hand', HAND),
                                  ('face', FACE)) if name in classes
        }
        self.label_types.update(
            {classes.index(name): OBJECT
             for name in self.object_classes})
        with DefaultScope.overwrite_default_scope('mmpose'):
            self.pose_model = init_model(
                pose_config, pose_checkpoint, device=device)
            self.pose_lifter = None if pose3d_config is None else init_model(
                pose3d_config, pose3d_checkpoint, device=device)
        self.keypoint_layout = layout_of_pose_model(
            self.pose_model.dataset_meta)
        self.keypoint3d_layout = None if self.pose_lifter is None else \
            layout_of_pose_lifter(self.pose_lifter.dataset_meta)
        #: prior box type -> (score threshold, most boxes per frame)
        self.type_limits = {
            PERSON: (det_score_thr, max_persons),
            HAND: (det_score_thr, max_parts),
            FACE: (det_score_thr, max_parts),
            OBJECT: (object_score_thr, max_objects),
        }
        self.det_score_thr = det_score_thr
        self.kpt_score_thr = kpt_score_thr
        self.max_persons = max_persons
        self.max_parts = max_parts
        self.object_score_thr = object_score_thr
        self.max_objects = max_objects
        self.batch_size = batch_size
        self.derive_parts = derive_parts

    @staticmethod
    def _object_classes(det_config: str, classes: List[str],
                        requested: Optional[Sequence[str]]) -> List[str]:
        """The detector's class names to keep as objects (see the class
        docstring), in the detector's order."""
        if requested is None:
            found = [c for c in classes if c in HELD_OBJECT_CLASSES]
            if not found:
                warnings.warn(f'detector {det_config} has none of the '
                              'default object classes: no object boxes '
                              '(use a COCO detector, docs/priors.md)')
            return found
        requested = [class_key(c) for c in requested]
        for name in requested:
            if name in ('person', 'hand', 'face'):
                raise ValueError(f'object class {name!r}: persons, hands '
                                 'and faces have their own box types')
            if name not in classes:
                raise ValueError(f'object class {name!r} is not a class of '
                                 f'detector {det_config} ({classes})')
        return [c for c in classes if c in requested]

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
            object_classes=self.object_classes,
            keypoint_layout=self.keypoint_layout,
            keypoint3d_layout=self.keypoint3d_layout,
            det_score_thr=self.det_score_thr,
            kpt_score_thr=self.kpt_score_thr,
            object_score_thr=self.object_score_thr,
            max_persons=self.max_persons,
            max_parts=self.max_parts,
            max_objects=self.max_objects,
            derive_parts=self.derive_parts)

    def _detect(self, frames: Sequence[np.ndarray]) -> List[dict]:
        """Runs the detector on RGB frames; per frame a dict of ``boxes``
        ``(n, 4)``, ``scores``, ``types`` and ``classes`` (detector labels)
        ``(n,)`` of the kept classes, each type above its threshold and
        capped (``type_limits``), boxes clipped to the frame."""
        from mmdet.apis import inference_detector
        bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
        with DefaultScope.overwrite_default_scope('mmdet'):
            samples = inference_detector(self.detector, bgr)
        type_of_label = np.full(
            len(self.detector.dataset_meta['classes']), PAD_TYPE, np.int8)
        for label, type_id in self.label_types.items():
            type_of_label[label] = type_id
        out = []
        for frame, sample in zip(frames, samples):
            pred = sample.pred_instances
            height, width = frame.shape[:2]
            boxes = pred.bboxes.cpu().numpy().astype(np.float32).clip(
                0, [width, height] * 2)
            scores = pred.scores.cpu().numpy().astype(np.float32)
            labels = pred.labels.cpu().numpy().astype(np.int64)
            types = type_of_label[labels]
            keep = []
            for type_id, (score_thr, cap) in self.type_limits.items():
                idx = np.flatnonzero((types == type_id)
                                     & (scores >= score_thr))
                keep.append(idx[np.argsort(-scores[idx], kind='stable')][:cap])
            keep = np.concatenate(keep)
            out.append(
                dict(
                    boxes=boxes[keep].reshape(-1, 4),
                    scores=scores[keep],
                    types=types[keep],
                    classes=labels[keep]))
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
        types, detector classes, person links, object links and
        keypoints."""
        person = det['types'] == PERSON
        keypoints = self._pose(frame, det['boxes'][person])
        boxes = [det['boxes'][person], det['boxes'][~person]]
        scores = [det['scores'][person], det['scores'][~person]]
        types = [det['types'][person], det['types'][~person]]
        classes = [det['classes'][person], det['classes'][~person]]
        persons = [np.arange(person.sum()), np.full((~person).sum(), -1)]
        detected = set(self.label_types.values())
        if self.derive_parts:
            parts = [(HAND, self.layout.hand_groups),
                     (FACE,
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
                classes.append(np.full(len(rows), -1))
                persons.append(rows[:, 5].astype(np.int64))
        boxes = np.concatenate(boxes).astype(np.float32)
        types = np.concatenate(types).astype(np.int8)
        return dict(
            boxes=boxes,
            scores=np.concatenate(scores).astype(np.float32),
            types=types,
            classes=np.concatenate(classes).astype(np.int64),
            persons=np.concatenate(persons).astype(np.int64),
            links=link_objects(boxes, types),
            keypoints=keypoints)

    def __call__(self, frames: Sequence[np.ndarray]) -> List[dict]:
        """Priors of each frame.

        Args:
            frames (Sequence[np.ndarray]): ``F`` frames ``(H, W, 3)`` uint8
                RGB.

        Returns:
            list[dict]: Per frame ``boxes`` ``(m, 4)`` xyxy pixels (persons
            first, in keypoint order), ``scores`` ``(m,)``, ``types``
            ``(m,)``, ``classes`` ``(m,)`` (detector class id, -1 for boxes
            derived from keypoints), ``persons`` ``(m,)`` (the person a box
            belongs to, -1 none), ``links`` ``(m,)`` (for objects, the slot
            of the linked hand or person box, else -1) and ``keypoints``
            ``(p, K, 3)``; add 3D poses of a whole video with
            :meth:`lift_poses`, stack them with :func:`stack_frame_priors`.
        """
        per_frame = []
        for start in range(0, len(frames), self.batch_size):
            batch = frames[start:start + self.batch_size]
            per_frame += [
                self._frame_priors(frame, det)
                for frame, det in zip(batch, self._detect(batch))
            ]
        return per_frame

    def lift_poses(self, per_frame: Sequence[dict],
                   frame_size: Tuple[int, int]) -> None:
        """Adds ``keypoints3d`` ``(p, K3, 4)`` ``(x, y, z, score)`` to the
        priors of every frame of one video (in frame order), as mmpose's
        ``demo/body3d_pose_lifter_demo.py`` does: COCO body keypoints
        converted to H36M's 2D layout, persons tracked by box IoU, each
        person's sequence around a frame lifted by the pose lifter.

        The lifter's temporal window (``seq_len`` of its config) counts
        stored frames. Coordinates are the lifter's output (root-relative,
        in metres for H36M lifters, camera axes: x right, y down, z away
        from the camera); a joint's score is its converted 2D score.

        Args:
            per_frame (Sequence[dict]): :meth:`__call__`'s output for all
                stored frames of a video; changed in place.
            frame_size (tuple[int, int]): ``(H, W)`` of the frames.

        Raises:
            RuntimeError: If the extractor has no pose lifter.
        """
        from mmengine.structures import InstanceData
        from mmpose.apis import (convert_keypoint_definition,
                                 extract_pose_sequence,
                                 inference_pose_lifter_model)
        from mmpose.structures import PoseDataSample
        if self.pose_lifter is None:
            raise RuntimeError('lift_poses needs pose3d_config')
        num_k3 = KEYPOINT3D_LAYOUTS[self.keypoint3d_layout].num_keypoints
        person_boxes = [f['boxes'][:len(f['keypoints'])] for f in per_frame]
        poses_2d, scores_2d = [], []
        for frame, boxes, tracks in zip(per_frame, person_boxes,
                                        track_persons(person_boxes)):
            # the first 17 whole-body keypoints are COCO's body keypoints
            body = convert_keypoint_definition(frame['keypoints'][:, :17],
                                               'coco', self.keypoint3d_layout)
            poses_2d.append([
                PoseDataSample(
                    track_id=int(track),
                    gt_instances=InstanceData(),
                    pred_instances=InstanceData(
                        keypoints=kpts[None, :, :2],
                        keypoint_scores=kpts[None, :, 2],
                        bboxes=box[None]))
                for kpts, box, track in zip(body, boxes, tracks)
            ])
            scores_2d.append(body[..., 2])
        dataset = self.pose_lifter.cfg.test_dataloader.dataset
        height, width = frame_size
        image_size = (
            H36M_FRAME_SIZE if 'stats_info' in self.pose_lifter.dataset_meta
            else (width, height))
        for index, (frame, scores) in enumerate(zip(per_frame, scores_2d)):
            sequence = extract_pose_sequence(
                poses_2d,
                frame_idx=index,
                causal=dataset.get('causal', False),
                seq_len=dataset.get('seq_len', 1),
                step=dataset.get('seq_step', 1))
            with DefaultScope.overwrite_default_scope('mmpose'):
                lifted = inference_pose_lifter_model(
                    self.pose_lifter,
                    sequence,
                    image_size=image_size,
                    norm_pose_2d=True)
            kpts3d = np.zeros((len(scores), num_k3, 4), np.float32)
            for person, sample in enumerate(lifted):
                kpts3d[person, :, :3] = np.reshape(
                    sample.pred_instances.keypoints, (num_k3, 3))
            kpts3d[..., 3] = scores
            frame['keypoints3d'] = kpts3d

    def video_priors(self, per_frame: Sequence[dict],
                     frame_size: Tuple[int, int]) -> Dict[str, np.ndarray]:
        """The prior-store fields of one video's frames: with a pose lifter,
        3D poses are added (:meth:`lift_poses`, changing ``per_frame``),
        then the frames are stacked (:func:`stack_frame_priors`).

        Args:
            per_frame (Sequence[dict]): :meth:`__call__`'s output for all
                stored frames of the video, in frame order.
            frame_size (tuple[int, int]): ``(H, W)`` of the frames.

        Returns:
            dict: :func:`stack_frame_priors`' fields, ``keypoint_layout``
            and, with a pose lifter, ``keypoints3d_layout``.
        """
        num_keypoints3d = None
        if self.pose_lifter is not None:
            self.lift_poses(per_frame, frame_size)
            num_keypoints3d = KEYPOINT3D_LAYOUTS[
                self.keypoint3d_layout].num_keypoints
        fields = stack_frame_priors(per_frame, self.layout.num_keypoints,
                                    num_keypoints3d)
        fields['keypoint_layout'] = self.keypoint_layout
        if num_keypoints3d is not None:
            fields['keypoints3d_layout'] = self.keypoint3d_layout
        return fields


def stack_frame_priors(
        per_frame: Sequence[dict],
        num_keypoints: int,
        num_keypoints3d: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Pads per-frame priors (:meth:`PriorExtractor.__call__`) to
    ``(F, M, ...)``, ``(F, P, K, 3)`` and ``(F, P, K3, 4)`` arrays.

    Args:
        per_frame (Sequence[dict]): Per frame ``boxes`` ``(m, 4)``,
            ``scores``, ``types``, ``classes``, ``persons``, ``links``
            ``(m,)``, ``keypoints`` ``(p, K, 3)`` and, with
            ``num_keypoints3d``, ``keypoints3d`` ``(p, K3, 4)``.
        num_keypoints (int): ``K``.
        num_keypoints3d (int, optional): ``K3``; None: no 3D poses.
            Defaults to None.

    Returns:
        dict: ``boxes``, ``box_scores``, ``box_types``, ``box_classes``,
        ``box_person``, ``box_links``, ``keypoints`` and, with
        ``num_keypoints3d``, ``keypoints3d``; empty slots get type -1,
        score 0 and class/person/link -1.
    """
    num = len(per_frame)
    m = max([len(f['boxes']) for f in per_frame], default=0)
    p = max([len(f['keypoints']) for f in per_frame], default=0)
    out = dict(
        boxes=np.zeros((num, m, 4), np.float32),
        box_scores=np.zeros((num, m), np.float32),
        box_types=np.full((num, m), PAD_TYPE, np.int8),
        box_classes=np.full((num, m), -1, np.int64),
        box_person=np.full((num, m), -1, np.int64),
        box_links=np.full((num, m), -1, np.int64),
        keypoints=np.zeros((num, p, num_keypoints, 3), np.float32))
    per_box = dict(
        boxes='boxes',
        box_scores='scores',
        box_types='types',
        box_classes='classes',
        box_person='persons',
        box_links='links')
    per_person = dict(keypoints='keypoints')
    if num_keypoints3d is not None:
        out['keypoints3d'] = np.zeros((num, p, num_keypoints3d, 4), np.float32)
        per_person['keypoints3d'] = 'keypoints3d'
    for i, frame in enumerate(per_frame):
        for field, key in per_box.items():
            out[field][i, :len(frame[key])] = frame[key]
        for field, key in per_person.items():
            out[field][i, :len(frame[key])] = frame[key]
    return out
