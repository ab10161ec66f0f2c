"""AVA spatio-temporal action detection (official v2.1 / v2.2 files)."""
import csv
import os
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset

from mvitx.registry import DATASETS
from mvitx.structures.bbox import box_iou
from .ava_files import make_image_key, read_exclusions, read_labelmap


@DATASETS.register_module()
class AVADataset(BaseDataset):
    """One sample per annotated keyframe of an AVA CSV.

    Files (as published at research.google.com/ava):

    * ``ann_file``: rows ``video_id, timestamp, x1, y1, x2, y2, action_id,
      person_id`` (boxes normalised to [0, 1]); one row per (person,
      action), rows of one person share the box and person id;
    * ``label_file``: the action list ``.pbtxt`` (class names);
    * ``exclude_file``: ``video_id, timestamp`` keyframes to skip;
    * ``proposal_file``: a pickled dict ``"video_id,%04d" -> (N, 5)``
      normalised boxes and person scores (``(N, 4)`` is read as score 1).

    Frames come from one of two back-ends, chosen by ``data_prefix``:
    ``dict(img=DIR)`` reads pre-extracted frames
    ``DIR/{video_id}/{filename_tmpl.format(k)}`` (``k`` counts from
    ``start_index``, at ``fps``), ``dict(video=DIR)`` decodes
    ``DIR/{video_id}{suffix}`` with decord. Frame ``0`` of a video or frame
    folder is at movie time ``timestamp_start`` (900 s for the official
    15-minute segments, 0 for whole movies), so the keyframe of second
    ``t`` is frame ``round((t - timestamp_start) * fps)``.

    Training samples carry the ground-truth actors; with
    ``train_with_proposals`` the proposals overlapping a ground-truth box by
    at least ``proposal_iou_thr`` are added with that actor's labels.
    Test samples carry the proposals scoring at least ``det_score_thr``
    (the best proposal when none does, the whole frame when a keyframe has
    no proposal).

    Each sample: ``video_id``, ``timestamp``, ``keyframe_ind``,
    ``backend`` (``'frame'``/``'video'``), ``filename`` or ``frame_dir``,
    ``total_frames`` (frames back-end), ``gt_bboxes_norm`` ``(n, 4)``,
    ``gt_labels`` ``(n, num_classes)`` float multi-hot (column ``j`` is
    action id ``j + 1``), ``entity_ids`` ``(n,)``, ``proposals_norm``
    ``(m, 4)``, ``proposal_scores`` ``(m,)``, ``source``, ``modality`` and
    ``prior_file`` with ``prior_prefix``.
    :class:`~mvitx.datasets.transforms.LoadAVAClip` turns the normalised
    boxes into pixels.

    Args:
        ann_file (str): The CSV (joined to ``data_root``).
        pipeline (Sequence[dict | Callable]): Transforms.
        label_file (str): Action list ``.pbtxt`` (joined to
            ``data_root``).
        exclude_file (str, optional): Excluded keyframes. Defaults to None.
        proposal_file (str, optional): Pickled proposals. Required in test
            mode. Defaults to None.
        data_prefix (dict, optional): ``dict(img=DIR)`` or
            ``dict(video=DIR)``. Defaults to ``dict(img='')``.
        num_classes (int): Length of the multi-hot label (the largest
            action id). Defaults to 80.
        fps (int): Frame rate of the frames / videos. Defaults to 30.
        timestamp_start (int): Movie second of frame 0. Defaults to 900.
        filename_tmpl (str): Frame file names. Defaults to
            ``'img_{:05d}.jpg'``.
        start_index (int): Number of the first frame file. Defaults to 1.
        suffix (str): Video file extension. Defaults to ``'.mp4'``.
        det_score_thr (float): Test proposals kept. Defaults to 0.9.
        train_with_proposals (bool): Add matched proposals to the training
            actors. Defaults to False.
        proposal_iou_thr (float): IoU for that match. Defaults to 0.9.
        prior_prefix (str, optional): Folder of per-video prior files
            ``{video_id}.npz`` (``docs/priors.md``; frame indices as the
            clip's ``frame_inds``), joined to ``data_root`` if relative;
            adds ``prior_file`` to every sample. Defaults to None.
        source (str): Dataset name in every sample. Defaults to ``'ava'``.
        **kwargs: mmengine ``BaseDataset`` arguments (``data_root``,
            ``test_mode``, ...).

    Raises:
        ValueError: A malformed CSV row (with file and line), an action id
            outside ``[1, num_classes]``, or both/neither back-ends given.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: Sequence[Union[dict, Callable]],
                 label_file: str,
                 exclude_file: Optional[str] = None,
                 proposal_file: Optional[str] = None,
                 data_prefix: Optional[dict] = None,
                 num_classes: int = 80,
                 fps: int = 30,
                 timestamp_start: int = 900,
                 filename_tmpl: str = 'img_{:05d}.jpg',
                 start_index: int = 1,
                 suffix: str = '.mp4',
                 det_score_thr: float = 0.9,
                 train_with_proposals: bool = False,
                 proposal_iou_thr: float = 0.9,
                 prior_prefix: Optional[str] = None,
                 source: str = 'ava',
                 **kwargs):
        data_prefix = data_prefix or dict(img='')
        if len(set(data_prefix) & {'img', 'video'}) != 1:
            raise ValueError("data_prefix needs exactly one of 'img' "
                             f"(frames) or 'video', got {data_prefix}")
        self.backend = 'frame' if 'img' in data_prefix else 'video'
        self.label_file = label_file
        self.exclude_file = exclude_file
        self.proposal_file = proposal_file
        self.num_classes = num_classes
        self.fps = fps
        self.timestamp_start = timestamp_start
        self.filename_tmpl = filename_tmpl
        self.start_index = start_index
        self.suffix = suffix
        self.det_score_thr = det_score_thr
        self.train_with_proposals = train_with_proposals
        self.proposal_iou_thr = proposal_iou_thr
        self.prior_prefix = prior_prefix
        self.source = source
        super().__init__(
            ann_file=ann_file,
            pipeline=list(pipeline),
            data_prefix=data_prefix,
            **kwargs)

    def _join(self, path: Optional[str]) -> Optional[str]:
        if path is None or osp.isabs(path) or not self.data_root:
            return path
        return osp.join(self.data_root, path)

    def _read_rows(self) -> Dict[str, List[tuple]]:
        """Rows ``(box, action_id, entity_id)`` per keyframe key."""
        frames = OrderedDict()
        with open(self.ann_file, newline='') as f:
            for lineno, row in enumerate(csv.reader(f), 1):
                if not row:
                    continue
                where = f'{self.ann_file}:{lineno}'
                if len(row) not in (7, 8):
                    raise ValueError(f'{where}: expected 7 or 8 columns '
                                     f'(video_id,timestamp,x1,y1,x2,y2,'
                                     f'action_id[,person_id]), got {row}')
                try:
                    box = tuple(float(v) for v in row[2:6])
                    action = int(row[6])
                    entity = int(row[7]) if len(row) == 8 else -1
                    key = make_image_key(row[0], row[1])
                except ValueError as err:
                    raise ValueError(f'{where}: {err}: {row}') from None
                if not 1 <= action <= self.num_classes:
                    raise ValueError(f'{where}: action id {action} outside '
                                     f'[1, {self.num_classes}]')
                if not (0 <= box[0] < box[2] <= 1
                        and 0 <= box[1] < box[3] <= 1):
                    raise ValueError(f'{where}: box {box} is not a '
                                     'normalised x1,y1,x2,y2 box')
                frames.setdefault(key, []).append((box, action, entity))
        return frames

    def _actors(self, rows: List[tuple]) -> tuple:
        """Merges the rows of one keyframe into actors: boxes ``(n, 4)``,
        multi-hot labels ``(n, num_classes)``, entity ids ``(n,)``."""
        actors = OrderedDict()
        for box, action, entity in rows:
            labels = actors.setdefault((box, entity),
                                       np.zeros(self.num_classes, np.float32))
            labels[action - 1] = 1
        boxes = np.array([k[0] for k in actors], np.float32).reshape(-1, 4)
        entity_ids = np.array([k[1] for k in actors], np.int64)
        labels = np.stack(list(actors.values())) if actors else np.zeros(
            (0, self.num_classes), np.float32)
        return boxes, labels, entity_ids

    def _load_proposals(self) -> Dict[str, np.ndarray]:
        if self.proposal_file is None:
            if self.test_mode:
                raise ValueError('AVADataset needs proposal_file in test '
                                 'mode')
            return {}
        with open(self._join(self.proposal_file), 'rb') as f:
            proposals = pickle.load(f)
        out = {}
        for key, value in proposals.items():
            value = np.asarray(value, np.float32).reshape(len(value), -1)
            if value.shape[1] == 4:
                value = np.concatenate(
                    [value, np.ones((len(value), 1), np.float32)], 1)
            video_id, ts = key.rsplit(',', 1)
            out[make_image_key(video_id, ts)] = value[:, :5]
        return out

    def _test_proposals(self, props: Optional[np.ndarray]) -> np.ndarray:
        if props is None or len(props) == 0:
            return np.array([[0, 0, 1, 1, 1]], np.float32)
        keep = props[:, 4] >= self.det_score_thr
        if not keep.any():
            keep = props[:, 4] == props[:, 4].max()
        return props[keep]

    def _count_frames(self, frame_dir: str) -> int:
        with os.scandir(frame_dir) as it:
            return sum(1 for e in it
                       if e.name.endswith(osp.splitext(self.filename_tmpl)[1]))

    def load_data_list(self) -> List[dict]:
        """Parses the CSV, exclusions and proposals into samples."""
        categories, _ = read_labelmap(self._join(self.label_file))
        self._metainfo['classes'] = tuple(c['name'] for c in categories)
        self._metainfo['label_ids'] = tuple(c['id'] for c in categories)
        excluded = read_exclusions(self._join(self.exclude_file))
        proposals = self._load_proposals()
        prefix = self.data_prefix['img' if self.backend ==
                                  'frame' else 'video']
        num_frames = {}
        data_list = []
        for key, rows in self._read_rows().items():
            if key in excluded:
                continue
            video_id, ts = key.rsplit(',', 1)
            boxes, labels, entity_ids = self._actors(rows)
            props = proposals.get(key)
            if self.test_mode:
                props = self._test_proposals(props)
            elif self.train_with_proposals and props is not None and len(
                    props):
                iou = box_iou(props[:, :4], boxes)
                best = iou.argmax(1)
                match = iou.max(1) >= self.proposal_iou_thr
                boxes = np.concatenate([boxes, props[match, :4]])
                labels = np.concatenate([labels, labels[best[match]]])
                entity_ids = np.concatenate(
                    [entity_ids, entity_ids[best[match]]])
            if props is None:
                props = np.zeros((0, 5), np.float32)
            info = dict(
                video_id=video_id,
                timestamp=int(ts),
                keyframe_ind=int(
                    round((int(ts) - self.timestamp_start) * self.fps)),
                backend=self.backend,
                gt_bboxes_norm=boxes.astype(np.float32),
                gt_labels=labels,
                entity_ids=entity_ids,
                proposals_norm=props[:, :4].astype(np.float32),
                proposal_scores=props[:, 4].astype(np.float32),
                source=self.source,
                modality='video')
            if self.prior_prefix is not None:
                info['prior_file'] = osp.join(
                    self._join(self.prior_prefix), f'{video_id}.npz')
            if self.backend == 'frame':
                frame_dir = osp.join(prefix, video_id)
                if frame_dir not in num_frames:
                    num_frames[frame_dir] = self._count_frames(frame_dir)
                info.update(
                    frame_dir=frame_dir,
                    total_frames=num_frames[frame_dir],
                    filename_tmpl=self.filename_tmpl,
                    start_index=self.start_index)
            else:
                info['filename'] = osp.join(prefix, video_id + self.suffix)
            data_list.append(info)
        return data_list
