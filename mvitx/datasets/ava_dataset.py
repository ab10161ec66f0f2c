"""AVA spatio-temporal action detection (official v2.1 / v2.2 files and
the Kinetics part of AVA-Kinetics)."""
import logging
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.logging import print_log

from mvitx.registry import DATASETS
from mvitx.structures.bbox import box_iou
from .ava_files import (make_image_key, read_ava_rows, read_exclusions,
                        read_labelmap, read_proposals)
from .base_dataset import BaseActionDataset

#: ``(start, end, path)`` of a Kinetics clip, in seconds of its YouTube video.
Clip = Tuple[int, int, str]


@DATASETS.register_module()
class AVADataset(BaseActionDataset):
    """One sample per annotated keyframe of an AVA or AVA-Kinetics CSV.

    Files (as published at research.google.com/ava):

    * ``ann_file``: rows ``video_id, timestamp, x1, y1, x2, y2, action_id,
      person_id`` (boxes normalised to [0, 1]); one row per (person,
      action), rows of one person share the box and person id (without the
      person id column, as in AVA-Kinetics, by the box). A 2-column row
      ``video_id, timestamp`` is a keyframe without actors (the current
      official files list those): in training it is left out, since the
      head learns from actor boxes only and such a keyframe has none; in
      test mode it is a sample like any other, so detections on it are
      scored (false positives under both evaluation protocols);
    * ``label_file``: the action list ``.pbtxt`` (class names);
    * ``exclude_file``: ``video_id, timestamp`` keyframes to skip;
    * ``proposal_file``: a pickled dict ``"video_id,%04d" -> (N, 5)``
      normalised boxes and person scores (``(N, 4)`` is read as score 1),
      read without running code and checked when the dataset is built.

    Frames come from one of two back-ends, chosen by ``data_prefix``:
    ``dict(img=DIR)`` reads pre-extracted frames
    ``DIR/{video_id}/{filename_tmpl.format(k)}`` (``k`` counts from
    ``start_index``, at ``fps``), ``dict(video=DIR)`` decodes
    ``DIR/{video_id}{suffix}`` with decord. Frame ``0`` of a video or frame
    folder is at movie time ``timestamp_start`` (900 s for the official
    15-minute segments, 0 for whole movies), so the keyframe of second
    ``t`` is frame ``round((t - timestamp_start) * fps)``; with
    ``fps=None`` (video back-end only) the video's own frame rate is used
    when the clip is loaded.

    **Kinetics part of AVA-Kinetics** (``kinetics_clips=True``): the rows
    (``kinetics_{train,val}_v1.0.csv``: ``youtube_id, timestamp, x1, y1,
    x2, y2, action_id`` or ``youtube_id, timestamp``) time each keyframe
    in seconds of the YouTube video, with microseconds. Its frames come
    from the Kinetics-700 clip ``{youtube_id}_{start:06d}_{end:06d}{suffix}``
    (``start`` and ``end``: seconds of the YouTube video, the Kinetics file
    naming; also that of mmaction2's cut clips) found anywhere under
    ``data_prefix['video']`` (Kinetics is often stored in class folders)
    with ``start <= t <= end``, the one with most time on both sides when
    several do; the keyframe is clip frame ``round((t - start) * fps)``
    (``timestamp_start`` is not used). A keyframe without such a clip is
    left out of training with one WARNING counting them, and is an error
    naming ``file:line`` in test mode. Proposals and exclusions are keyed
    by the whole second (``'youtube_id,%04d'``, as mmaction2's
    ``fetch_proposal.py`` writes them). Mix AVA and AVA-Kinetics in one
    training set with an mmengine ``ConcatDataset`` of an AVA and a
    Kinetics ``AVADataset`` (``configs/ava/mvit_s_k400_avakinetics.py``).

    Training samples carry the ground-truth actors; with
    ``train_with_proposals`` the proposals overlapping a ground-truth box by
    at least ``proposal_iou_thr`` are added with that actor's labels.
    Test samples carry the proposals scoring at least ``det_score_thr``
    (the best proposal when none does, the whole frame when a keyframe has
    no proposal).

    A keyframe whose frames or video cannot be read is skipped, named and
    counted in training, and raises in test mode, as in
    :class:`~mvitx.datasets.BaseActionDataset`.

    Each sample: ``video_id``, ``timestamp`` (``int`` seconds; ``float``
    for Kinetics clips), ``keyframe_sec`` (seconds from frame 0 of the file
    or folder), ``keyframe_ind`` (None with ``fps=None``),
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
        fps (int, optional): Frame rate of the frames / videos; None: each
            video's own (video back-end only). Defaults to 30.
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
            ``{video_id}.npz`` (Kinetics clips: ``{clip file stem}.npz``;
            ``docs/priors.md``; frame indices as the clip's
            ``frame_inds``), joined to ``data_root`` if relative; adds
            ``prior_file`` to every sample. Defaults to None.
        source (str): Dataset name in every sample. Defaults to ``'ava'``.
        kinetics_clips (bool): Rows are AVA-Kinetics keyframes of Kinetics
            clips (see above); needs the video back-end. Defaults to False.
        **kwargs: :class:`BaseActionDataset` and mmengine ``BaseDataset``
            arguments (``data_root``, ``test_mode``, ``on_error``, ...).

    Raises:
        ValueError: A malformed CSV row or label map item (with file and
            line: see :func:`~mvitx.datasets.ava_files.read_ava_rows`; a
            box not inside ``[0, 1]`` with ``x1 < x2`` and ``y1 < y2``;
            fractional timestamps without ``kinetics_clips``), an action id
            outside ``[1, num_classes]``, a malformed
            proposal (with file and key: not ``(N, 4)``/``(N, 5)``,
            non-finite, not normalised, not ordered; see
            :func:`~mvitx.datasets.ava_files.read_proposals`), or
            both/neither back-ends given, ``fps=None`` or ``kinetics_clips``
            with frames.
        PickleSafetyError: A proposal file that is damaged or would run
            code.
        FileNotFoundError: A missing ``data_root`` or ``ann_file``; in test
            mode, a Kinetics keyframe without its clip (with file and
            line).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: Sequence[Union[dict, Callable]],
                 label_file: str,
                 exclude_file: Optional[str] = None,
                 proposal_file: Optional[str] = None,
                 data_prefix: Optional[dict] = None,
                 num_classes: int = 80,
                 fps: Optional[int] = 30,
                 timestamp_start: int = 900,
                 filename_tmpl: str = 'img_{:05d}.jpg',
                 start_index: int = 1,
                 suffix: str = '.mp4',
                 det_score_thr: float = 0.9,
                 train_with_proposals: bool = False,
                 proposal_iou_thr: float = 0.9,
                 prior_prefix: Optional[str] = None,
                 source: str = 'ava',
                 kinetics_clips: bool = False,
                 **kwargs):
        data_prefix = data_prefix or dict(img='')
        if len(set(data_prefix) & {'img', 'video'}) != 1:
            raise ValueError("data_prefix needs exactly one of 'img' "
                             f"(frames) or 'video', got {data_prefix}")
        self.backend = 'frame' if 'img' in data_prefix else 'video'
        if self.backend == 'frame' and (fps is None or kinetics_clips):
            raise ValueError('fps=None and kinetics_clips need videos '
                             "(data_prefix=dict(video=DIR))")
        self.kinetics_clips = kinetics_clips
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
        super().__init__(
            ann_file=ann_file,
            pipeline=pipeline,
            source=source,
            modality='video',
            data_prefix=data_prefix,
            **kwargs)

    def _join(self, path: Optional[str]) -> Optional[str]:
        if path is None or osp.isabs(path) or not self.data_root:
            return path
        return osp.join(self.data_root, path)

    def _read_rows(self) -> Dict[str, dict]:
        """Per keyframe key: ``video_id``, ``timestamp``, ``line`` (its
        first) and ``rows`` ``[(box, action_id, entity_id)]`` (empty for a
        keyframe without actors)."""
        frames = OrderedDict()
        for row in read_ava_rows(self.ann_file, self.kinetics_clips):
            frame = frames.setdefault(
                row.key,
                dict(
                    video_id=row.video_id,
                    timestamp=row.timestamp,
                    line=row.line,
                    rows=[]))
            if row.action is None:
                continue
            where = f'{self.ann_file}:{row.line}'
            if not 1 <= row.action <= self.num_classes:
                raise ValueError(f'{where}: action id {row.action} outside '
                                 f'[1, {self.num_classes}]')
            x1, y1, x2, y2 = row.box
            if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
                raise ValueError(f'{where}: box {row.box} is not a '
                                 'normalised x1,y1,x2,y2 box')
            entity = -1 if row.last is None else int(row.last)
            frame['rows'].append((row.box, row.action, entity))
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
        return read_proposals(self._join(self.proposal_file))

    def _test_proposals(self, props: Optional[np.ndarray]) -> np.ndarray:
        if props is None or len(props) == 0:
            return np.array([[0, 0, 1, 1, 1]], np.float32)
        keep = props[:, 4] >= self.det_score_thr
        if not keep.any():
            keep = props[:, 4] == props[:, 4].max()
        return props[keep]

    def _count_frames(self, frame_dir: str) -> int:
        # A missing folder is a video without frames: LoadAVAClip raises
        # BrokenInputError for it, so training skips and counts it.
        if not osp.isdir(frame_dir):
            return 0
        with os.scandir(frame_dir) as it:
            return sum(1 for e in it
                       if e.name.endswith(osp.splitext(self.filename_tmpl)[1]))

    def _kinetics_clips(self, video_ids: set) -> Dict[str, List[Clip]]:
        """The clips ``{youtube_id}_{start:06d}_{end:06d}{suffix}`` of
        ``video_ids`` anywhere under the video prefix, per YouTube id."""
        name = re.compile(r'(.+)_(\d+)_(\d+)' + re.escape(self.suffix))
        clips = {}
        for folder, _, files in os.walk(self.data_prefix['video']):
            for file in files:
                match = name.fullmatch(file)
                if match and match[1] in video_ids:
                    clips.setdefault(match[1], []).append(
                        (int(match[2]), int(match[3]), osp.join(folder, file)))
        return clips

    @staticmethod
    def _find_clip(clips: List[Clip], t: float) -> Optional[Clip]:
        """The clip covering second ``t`` with the most time on both sides
        of it (on a tie the first in ``(start, end, path)`` order); None
        when none covers it."""
        covering = sorted(c for c in clips if c[0] <= t <= c[1])
        if not covering:
            return None
        return max(covering, key=lambda c: min(t - c[0], c[1] - t))

    def _source(self, frame: dict, prefix: str, clips: Optional[dict],
                num_frames: dict) -> Optional[dict]:
        """Where the frames of a keyframe are: ``keyframe_sec`` and
        ``filename`` or ``frame_dir`` with its frame count; None for a
        Kinetics keyframe without its clip."""
        video_id, t = frame['video_id'], frame['timestamp']
        if clips is not None:
            clip = self._find_clip(clips.get(video_id, []), t)
            if clip is None:
                return None
            return dict(keyframe_sec=t - clip[0], filename=clip[2])
        source = dict(keyframe_sec=t - self.timestamp_start)
        if self.backend == 'video':
            source['filename'] = osp.join(prefix, video_id + self.suffix)
            return source
        frame_dir = osp.join(prefix, video_id)
        if frame_dir not in num_frames:
            num_frames[frame_dir] = self._count_frames(frame_dir)
        source.update(
            frame_dir=frame_dir,
            total_frames=num_frames[frame_dir],
            filename_tmpl=self.filename_tmpl,
            start_index=self.start_index)
        return source

    def _report_missing_clips(self, missing: List[dict], total: int) -> None:
        """Kinetics keyframes without a clip: an error in test mode (the
        evaluation would count their actors as missed), a WARNING in
        training."""
        if not missing:
            return
        first = missing[0]
        message = (f'{len(missing)} of {total} keyframes have no clip '
                   f'{{youtube_id}}_{{start:06d}}_{{end:06d}}{self.suffix} '
                   f'covering them under {self.data_prefix["video"]}; the '
                   f'first: {self.ann_file}:{first["line"]} '
                   f'{first["video_id"]} at {first["timestamp"]} s')
        if self.test_mode:
            raise FileNotFoundError(message)
        print_log(
            message + '; left out of training',
            logger='current',
            level=logging.WARNING)

    def load_data_list(self) -> List[dict]:
        """Parses the CSV, exclusions and proposals into samples."""
        label_file = self._join(self.label_file)
        categories, class_ids = read_labelmap(label_file)
        if class_ids[-1] > self.num_classes:
            raise ValueError(f'{label_file}: class id {class_ids[-1]} is '
                             f'outside [1, num_classes={self.num_classes}]')
        self._metainfo['classes'] = tuple(c['name'] for c in categories)
        self._metainfo['label_ids'] = tuple(c['id'] for c in categories)
        excluded = read_exclusions(self._join(self.exclude_file))
        proposals = self._load_proposals()
        prefix = self.data_prefix['img' if self.backend ==
                                  'frame' else 'video']
        frames = self._read_rows()
        clips = None
        if self.kinetics_clips:
            clips = self._kinetics_clips(
                {f['video_id']
                 for f in frames.values()})
        num_frames, missing, without_actors = {}, [], 0
        data_list = []
        for frame in frames.values():
            video_id, ts = frame['video_id'], frame['timestamp']
            # Exclusions and proposals are keyed by the whole second.
            key = make_image_key(video_id, ts)
            if key in excluded:
                continue
            if not frame['rows'] and not self.test_mode:
                without_actors += 1
                continue
            source = self._source(frame, prefix, clips, num_frames)
            if source is None:
                missing.append(frame)
                continue
            boxes, labels, entity_ids = self._actors(frame['rows'])
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
            keyframe_ind = None if self.fps is None else int(
                round(source['keyframe_sec'] * self.fps))
            info = dict(
                video_id=video_id,
                timestamp=ts,
                keyframe_ind=keyframe_ind,
                backend=self.backend,
                gt_bboxes_norm=boxes.astype(np.float32),
                gt_labels=labels,
                entity_ids=entity_ids,
                proposals_norm=props[:, :4].astype(np.float32),
                proposal_scores=props[:, 4].astype(np.float32),
                source=self.source,
                modality='video',
                **source)
            if self.prior_prefix is not None:
                # Priors are extracted per video file: a Kinetics clip's
                # are named by the clip, not by its YouTube id.
                stem = video_id if clips is None else osp.splitext(
                    osp.basename(source['filename']))[0]
                info['prior_file'] = osp.join(
                    self._join(self.prior_prefix), f'{stem}.npz')
            data_list.append(info)
        self._report_missing_clips(missing, len(frames))
        if without_actors:
            print_log(
                f'{self.ann_file}: {without_actors} keyframe(s) without '
                'actors left out of training',
                logger='current',
                level=logging.INFO)
        return data_list
