"""Frame-level AVA mAP under both official ActivityNet protocols, with a
long-tail report.

Two versions of the official ``Evaluation/get_ava_performance.py``
(github.com/activitynet/ActivityNet) are implemented, chosen by
``protocol``:

``'v2.2'`` (default), the script of March 2019 to April 2020, which
published AVA v2.1/v2.2 numbers and PySlowFast's and mmaction2's ports use:

* keyframes are keyed ``"video_id,%04d"`` (whole seconds); keyframes in the
  exclusion file are dropped from ground truth and detections;
* detections on keyframes without ground truth are false positives.

``'latest'``, the current script (April 2020 on: "empty keyframes are now
represented by rows with only video-id,timestamp", then timestamps with
microseconds for AVA-Kinetics, whose challenge it scores):

* keyframes are keyed ``"video_id,%.6f"`` (seconds with microseconds);
* there is no exclusion file: the ground truth lists every evaluated
  keyframe, those without actors as 2-column ``video_id,timestamp`` rows;
* detections on keyframes the ground-truth file does not list (by any row,
  of any class) are ignored; on a listed keyframe, detections matching no
  ground-truth box are false positives.

Both:

* only the evaluated classes of the label map (60 of the 80 AVA actions)
  count; at most ``max_dets_per_frame`` (50) ``(box, action)``
  detections, the best-scored, are kept per keyframe;
* then detections with ``x2 <= x1`` or ``y2 <= y1`` are dropped, neither
  true nor false positives (``_remove_invalid_boxes`` of the official
  ``per_image_evaluation.py``). A ground-truth box with ``x2 < x1`` or
  ``y2 < y1`` is a positive that no detection can match, but the official
  code stops ("Invalid box data", its ``BoxList``) as soon as a detection
  of the box's class is on its keyframe; :func:`frame_ap` stops there too,
  naming the keyframe. (A ground-truth box of zero width or height is
  valid there, and matches nothing: IoU 0.) The object-detection utilities
  are the same in both versions;
* per class, detections are matched greedily in descending score order to
  unmatched ground-truth boxes of the same keyframe with IoU >= 0.5;
* AP is the PASCAL VOC (all-point interpolated) area under the
  precision/recall curve; classes without ground truth are NaN and left out
  of the mean; classes with ground truth but no detection have AP 0.

2-column rows are read under both protocols; under ``'v2.2'`` they change
nothing (a keyframe without ground truth makes its detections false
positives either way), although that script itself refuses them.

mmaction2's port differs from ``'v2.2'`` in its default treatment of
keyframes without ground truth, drops the per-frame limit, classes with
ground truth but no detection, and counts the ground truth of excluded
keyframes (see ``docs/ava.md``); with ``max_dets_per_frame=None``, its
``ignore_empty_frames=False``, every ground-truth class detected somewhere
and no ground truth on excluded keyframes, both give the same numbers.
"""
import os
import os.path as osp
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mvitx.datasets.ava_files import (FrameBoxes, read_ava_csv,
                                      read_exclusions, read_labelmap)
from mvitx.registry import METRICS
from mvitx.structures.bbox import box_iou

#: The official evaluation versions (see the module docstring).
PROTOCOLS = ('v2.2', 'latest')


def check_protocol(protocol: str, exclude_file: Optional[str]) -> None:
    """Refuses an unknown protocol, and an exclusion file under
    ``'latest'`` (which has none).

    Raises:
        ValueError: Either.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got '
                         f'{protocol!r}')
    if protocol == 'latest' and exclude_file is not None:
        raise ValueError(
            "protocol 'latest' has no exclusion file: its ground truth "
            'lists the evaluated keyframes (2-column rows for those '
            f'without actors); got exclude_file={exclude_file!r}')


def ap_key(class_id: int, name: str) -> str:
    """The result key of one class's AP, e.g. ``'AP/12_stand'``."""
    return f'AP/{class_id}_{name}'


def long_tail_bucket(count: int, thresholds: Tuple[int, int]) -> str:
    """``'tail'`` below ``thresholds[0]`` training rows, ``'head'`` from
    ``thresholds[1]`` on, ``'middle'`` between."""
    low, high = thresholds
    return 'tail' if count < low else 'head' if count >= high else 'middle'


def voc_average_precision(scores: np.ndarray, tp: np.ndarray,
                          num_gt: int) -> float:
    """PASCAL VOC all-point AP of one class.

    Args:
        scores (np.ndarray): ``(n,)`` detection scores.
        tp (np.ndarray): ``(n,)`` bool, True for a true positive.
        num_gt (int): Ground-truth instances of the class.

    Returns:
        float: The AP; NaN when ``num_gt`` is 0, 0 without detections.
    """
    if num_gt == 0:
        return float('nan')
    if scores.size == 0:
        return 0.0
    order = np.argsort(scores)[::-1]
    tp = tp[order].astype(np.int64)
    cum_tp = np.cumsum(tp)
    precision = cum_tp / np.arange(1, tp.size + 1)
    recall = cum_tp / num_gt
    recall = np.concatenate([[0.], recall, [1.]])
    precision = np.concatenate([[0.], precision, [0.]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.nonzero(recall[1:] != recall[:-1])[0] + 1
    return float(
        np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def frame_ap(gt: Dict[str, FrameBoxes],
             dets: Dict[str, FrameBoxes],
             class_ids: Sequence[int],
             excluded: Optional[set] = None,
             iou_thr: float = 0.5) -> Dict[int, float]:
    """Per-class frame AP of detections against ground truth.

    Detections with ``x2 <= x1`` or ``y2 <= y1`` are dropped; detections on
    keyframes absent from ``gt`` are false positives (see the module
    docstring).

    Args:
        gt (dict): Ground truth per keyframe (see :func:`read_ava_csv`).
        dets (dict): Detections per keyframe, each in descending score
            order.
        class_ids (Sequence[int]): Evaluated action ids.
        excluded (set, optional): Keyframe keys ignored in both.
        iou_thr (float): Matching IoU. Defaults to 0.5.

    Returns:
        dict[int, float]: AP per class id (NaN without ground truth).

    Raises:
        ValueError: A ground-truth box with ``x2 < x1`` or ``y2 < y1`` on a
            keyframe with a detection of its class, as the official code.
    """
    excluded = excluded or set()
    num_gt = defaultdict(int)
    for key, (_, labels, _) in gt.items():
        if key not in excluded:
            for label in labels:
                num_gt[int(label)] += 1
    scores, tps = defaultdict(list), defaultdict(list)
    empty = (np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0))
    for key, (boxes, labels, score) in dets.items():
        if key in excluded:
            continue
        valid = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
        boxes, labels, score = boxes[valid], labels[valid], score[valid]
        gt_boxes, gt_labels, _ = gt.get(key, empty)
        for label in np.unique(labels):
            sel = labels == label
            det_boxes = boxes[sel]
            cls_gt = gt_boxes[gt_labels == label]
            inverted = (cls_gt[:, 2:] < cls_gt[:, :2]).any(1)
            if inverted.any():
                raise ValueError(
                    f'keyframe {key}: ground-truth box '
                    f'{cls_gt[inverted][0].tolist()} of action {label} has '
                    'x2 < x1 or y2 < y1 and the keyframe has a detection '
                    'of that action; the official evaluation stops here '
                    'too ("Invalid box data")')
            tp = np.zeros(len(det_boxes), dtype=bool)
            if len(cls_gt):
                iou = box_iou(det_boxes, cls_gt)
                best = iou.argmax(axis=1)
                taken = np.zeros(len(cls_gt), dtype=bool)
                for i, j in enumerate(best):
                    if iou[i, j] >= iou_thr and not taken[j]:
                        tp[i] = taken[j] = True
            scores[int(label)].append(score[sel])
            tps[int(label)].append(tp)
    return {
        c:
        voc_average_precision(
            np.concatenate(scores[c]) if scores[c] else np.zeros(0),
            np.concatenate(tps[c]) if tps[c] else np.zeros(0, bool), num_gt[c])
        for c in class_ids
    }


def class_frequencies(path: str) -> Dict[int, int]:
    """Number of ``(box, action)`` rows per action id of an AVA or
    AVA-Kinetics CSV."""
    counts = defaultdict(int)
    for _, labels, _ in read_ava_csv(path, precise=True).values():
        for label in labels:
            counts[int(label)] += 1
    return dict(counts)


@METRICS.register_module()
class AVAMetric(BaseMetric):
    """Frame-level mAP@0.5 of AVA, per-class AP and long-tail buckets.

    Predictions are the ``pred_instances`` of each keyframe sample:
    ``bboxes`` ``(n, 4)`` xyxy in the pixels of ``img_shape`` (the metainfo
    of the sample, as are ``video_id`` and ``timestamp``) and ``scores``
    ``(n, num_classes)`` where column ``j`` is action id ``j + 1``.

    Long-tail buckets group the evaluated classes by their number of
    training ``(box, action)`` rows in ``train_ann_file``: ``tail`` below
    ``long_tail_thresholds[0]``, ``head`` from ``long_tail_thresholds[1]``
    on, ``middle`` between (defaults ``(1000, 10000)`` for AVA v2.2,
    documented in ``docs/ava.md``).

    Keys (under the ``ava/`` prefix): ``mAP``, ``head_mAP``,
    ``middle_mAP``, ``tail_mAP`` (when ``train_ann_file`` is given) and
    ``AP/<id>_<name>`` per evaluated class, fractions in [0, 1] as printed
    by the official script. The detections are written in the official
    submission format to ``out_file``, timestamps as the protocol keys
    them (``%04d`` under ``'v2.2'``, ``%.6f`` under ``'latest'``).

    Args:
        ann_file (str): Ground-truth CSV of the evaluated split.
        label_file (str): Action list ``.pbtxt`` of the evaluated classes.
        exclude_file (str, optional): Excluded keyframes CSV (``'v2.2'``
            only).
        train_ann_file (str, optional): Training CSV for the long-tail
            buckets. Defaults to None (no buckets).
        long_tail_thresholds (tuple[int, int]): Tail/middle and
            middle/head row counts. Defaults to ``(1000, 10000)``.
        action_thr (float): Scores below are not written. Defaults to
            0.002.
        max_dets_per_frame (int, optional): Official per-keyframe limit on
            ``(box, action)`` detections. Defaults to 50.
        iou_thr (float): Matching IoU. Defaults to 0.5.
        protocol (str): ``'v2.2'`` or ``'latest'`` official evaluation
            (module docstring). Defaults to ``'v2.2'``.
        out_file (str): Where the official-format detection CSV is
            written. ``tools/train.py`` and ``tools/test.py`` put a relative
            path that the config sets inside the run's work dir; otherwise
            it is relative to the current directory. Defaults to
            ``'ava_detections.csv'``.
        collect_device (str): Where results are gathered. Defaults to
            ``'cpu'``.
        prefix (str, optional): Defaults to ``'ava'``.

    Raises:
        ValueError: Decreasing ``long_tail_thresholds``, an unknown
            ``protocol`` or an ``exclude_file`` under ``'latest'``.
    """

    default_prefix: Optional[str] = 'ava'

    def __init__(self,
                 ann_file: str,
                 label_file: str,
                 exclude_file: Optional[str] = None,
                 train_ann_file: Optional[str] = None,
                 long_tail_thresholds: Tuple[int, int] = (1000, 10000),
                 action_thr: float = 0.002,
                 max_dets_per_frame: Optional[int] = 50,
                 iou_thr: float = 0.5,
                 protocol: str = 'v2.2',
                 out_file: str = 'ava_detections.csv',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if long_tail_thresholds[0] > long_tail_thresholds[1]:
            raise ValueError('long_tail_thresholds must be increasing, got '
                             f'{long_tail_thresholds}')
        check_protocol(protocol, exclude_file)
        self.protocol = protocol
        self.ann_file = ann_file
        self.label_file = label_file
        self.exclude_file = exclude_file
        self.train_ann_file = train_ann_file
        self.long_tail_thresholds = tuple(long_tail_thresholds)
        self.action_thr = action_thr
        self.max_dets_per_frame = max_dets_per_frame
        self.iou_thr = iou_thr
        self.out_file = out_file

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keeps the normalised detections of each keyframe.

        Args:
            data_batch: The batch (unused).
            data_samples (Sequence[dict]): Predictions as dicts with
                ``pred_instances`` and the metainfo keys above.
        """
        for sample in data_samples:
            pred = sample['pred_instances']
            h, w = sample['img_shape'][:2]
            boxes = pred['bboxes'].detach().cpu().numpy().astype(np.float64)
            boxes = np.clip(boxes / np.array([w, h, w, h]), 0, 1)
            scores = pred['scores'].detach().float().cpu().numpy()
            self.results.append(
                dict(
                    video_id=sample['video_id'],
                    timestamp=float(sample['timestamp']),
                    bboxes=boxes.reshape(-1, 4),
                    scores=scores.reshape(len(boxes), -1)))

    def results_to_rows(self, results: List[dict]) -> List[tuple]:
        """Official CSV rows ``(video_id, timestamp, x1, y1, x2, y2,
        action_id, score)`` of the scores at or above ``action_thr``."""
        rows = []
        for res in results:
            for box, scores in zip(res['bboxes'], res['scores']):
                for j in np.nonzero(scores >= self.action_thr)[0]:
                    rows.append(
                        (res['video_id'], res['timestamp'], *box.tolist(),
                         int(j) + 1, float(scores[j])))
        return rows

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Writes the CSV and evaluates it.

        Args:
            results (list[dict]): What :meth:`process` kept, all ranks.

        Returns:
            dict[str, float]: ``mAP``, bucket mAPs and per-class APs.
        """
        out_path = self.out_file
        os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
        write_ava_csv(
            self.results_to_rows(results),
            out_path,
            precise=self.protocol == 'latest')
        metrics = evaluate_ava(
            out_path,
            self.ann_file,
            self.label_file,
            exclude_file=self.exclude_file,
            train_ann_file=self.train_ann_file,
            long_tail_thresholds=self.long_tail_thresholds,
            max_dets_per_frame=self.max_dets_per_frame,
            iou_thr=self.iou_thr,
            protocol=self.protocol)
        MMLogger.get_current_instance().info(
            f'AVA detections written to {out_path}')
        return metrics


def write_ava_csv(rows: Sequence[tuple],
                  path: str,
                  precise: bool = False) -> None:
    """Writes official-format detection rows ``(video_id, timestamp, x1,
    y1, x2, y2, action_id, score)``: 4 box decimals, 6 score decimals and
    4-digit whole-second timestamps, or with ``precise`` (the
    ``'latest'`` protocol, AVA-Kinetics) timestamps with 6 decimals."""
    with open(path, 'w') as f:
        for vid, ts, x1, y1, x2, y2, action, score in rows:
            ts = f'{ts:.6f}' if precise else f'{int(ts):04d}'
            f.write(f'{vid},{ts},{x1:.4f},{y1:.4f},{x2:.4f},{y2:.4f},'
                    f'{action},{score:.6f}\n')


def evaluate_ava(det_file: str,
                 ann_file: str,
                 label_file: str,
                 exclude_file: Optional[str] = None,
                 train_ann_file: Optional[str] = None,
                 long_tail_thresholds: Tuple[int, int] = (1000, 10000),
                 max_dets_per_frame: Optional[int] = 50,
                 iou_thr: float = 0.5,
                 protocol: str = 'v2.2') -> Dict[str, float]:
    """Evaluates an official-format detection CSV.

    Args:
        det_file (str): Detections, 8 columns.
        ann_file (str): Ground truth.
        label_file (str): Evaluated classes ``.pbtxt``.
        exclude_file (str, optional): Excluded keyframes (``'v2.2'``
            only).
        train_ann_file (str, optional): Training CSV for long-tail buckets.
        long_tail_thresholds (tuple[int, int]): See :class:`AVAMetric`.
        max_dets_per_frame (int, optional): Detections kept per keyframe.
        iou_thr (float): Matching IoU.
        protocol (str): ``'v2.2'`` or ``'latest'`` (module docstring).
            Defaults to ``'v2.2'``.

    Returns:
        dict[str, float]: ``mAP``, ``{head,middle,tail}_mAP`` and
        ``AP/<id>_<name>`` (fractions; NaN for classes without ground truth).

    Raises:
        ValueError: A malformed row (``file:line``; fractional timestamps
            under ``'v2.2'``), an unknown protocol, an exclusion file under
            ``'latest'``, or an inverted ground-truth box where the
            official code stops (see :func:`frame_ap`).
    """
    check_protocol(protocol, exclude_file)
    precise = protocol == 'latest'
    categories, class_ids = read_labelmap(label_file)
    excluded = read_exclusions(exclude_file)
    gt = read_ava_csv(ann_file, class_ids, precise=precise)
    dets = read_ava_csv(det_file, class_ids, max_dets_per_frame, precise)
    if precise:
        dets = {key: value for key, value in dets.items() if key in gt}
    aps = frame_ap(gt, dets, class_ids, excluded, iou_thr)
    metrics = OrderedDict(mAP=_nanmean(list(aps.values())))
    if train_ann_file is not None:
        freq = class_frequencies(train_ann_file)
        buckets = dict(head=[], middle=[], tail=[])
        for c, ap in aps.items():
            buckets[long_tail_bucket(freq.get(c, 0),
                                     long_tail_thresholds)].append(ap)
        for name, values in buckets.items():
            metrics[f'{name}_mAP'] = _nanmean(values)
    names = {c['id']: c['name'] for c in categories}
    for c, ap in aps.items():
        metrics[ap_key(c, names[c])] = ap
    return metrics


def _nanmean(values: Sequence[float]) -> float:
    """Mean over non-NaN values; NaN when there are none."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float('nan')
