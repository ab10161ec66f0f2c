"""AVAMetric against mmaction2's port of the official AVA evaluation."""
import contextlib
import importlib
import importlib.util
import io
import math
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from mvitx.datasets.ava_files import read_ava_csv
from mvitx.evaluation.metrics.ava_metric import (AVAMetric, evaluate_ava,
                                                 write_ava_csv)
from mvitx.structures import ActionDataSample

# Class ids of the toy label map; 4 and 7 exist but are not evaluated.
EVAL_CLASSES = {
    1: 'stand',
    2: 'sit',
    3: 'walk',
    5: 'talk',
    6: 'watch',
    8: 'hold'
}


def _load_reference():
    """mmaction2's ``ava_utils`` loaded from its file (the ``mmaction``
    package ``__init__`` chain is not importable in every install)."""
    spec = importlib.util.find_spec('mmaction')
    root = Path(spec.submodule_search_locations[0]) / 'evaluation'
    pkg = types.ModuleType('_ava_reference')
    pkg.__path__ = [str(root / 'functional')]
    sys.modules['_ava_reference'] = pkg
    ref = importlib.import_module('_ava_reference.ava_utils')
    # The reference spawns 32 processes; run its map in this one.
    ref.multiprocessing = types.SimpleNamespace(
        Pool=lambda n: types.SimpleNamespace(map=lambda f, x: list(map(f, x))))
    return ref


def reference_eval(det_file, ann_file, label_file, exclude_file):
    """``(mAP, {class_id: AP})`` of mmaction2's ``ava_eval``."""
    ref = _load_reference()
    aps = []
    original = ref.metrics.compute_average_precision

    def record(precision, recall):
        aps.append(original(precision, recall))
        return aps[-1]

    ref.metrics = types.SimpleNamespace(
        compute_precision_recall=ref.metrics.compute_precision_recall,
        compute_average_precision=record)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        res = ref.ava_eval(
            str(det_file),
            'mAP',
            str(label_file),
            str(ann_file),
            str(exclude_file),
            verbose=False,
            ignore_empty_frames=False)
    order = [int(k) for k in re.findall(r'Index: (\d+),', out.getvalue())]
    return res['overall'], dict(zip(order, aps))


def write_labelmap(path):
    with open(path, 'w') as f:
        for cid, name in EVAL_CLASSES.items():
            f.write(f'item {{\n  name: "{name}"\n  id: {cid}\n}}\n')


def _box(rng):
    x1, y1 = rng.uniform(0, 0.6, 2)
    w, h = rng.uniform(0.15, 0.4, 2)
    return [x1, y1, min(x1 + w, 1.), min(y1 + h, 1.)]


def make_fixture(tmp_path, seed):
    """Writes GT, detections, exclusions and label map; returns paths.

    Detections mix jittered GT boxes (true/false positives), random boxes,
    exact duplicates, detections on keyframes without GT, excluded
    keyframes, a non-evaluated class (7) and an evaluated class without GT
    (8). Every class with GT gets at least one detection.
    """
    rng = np.random.default_rng(seed)
    gt_rows, det_rows, excluded = [], [], []
    gt_classes = [1, 2, 3, 4, 5, 6]
    for vid in ('vidA', 'vidB'):
        for ts in range(902, 910):
            key_kind = rng.choice(['gt', 'gt', 'gt', 'empty', 'excluded'])
            if key_kind == 'excluded':
                excluded.append((vid, ts))
            persons = []
            if key_kind == 'gt':
                for pid in range(rng.integers(1, 4)):
                    box = _box(rng)
                    labels = rng.choice(
                        gt_classes, rng.integers(1, 3), replace=False)
                    persons.append((box, labels))
                    for label in labels:
                        gt_rows.append((vid, ts, *box, int(label), pid))
            for box, labels in persons:
                jitter = rng.normal(0, 0.03, 4)
                det_box = np.clip(np.array(box) + jitter, 0, 1).tolist()
                for label in range(1, 9):
                    det_rows.append((vid, ts, *det_box, label, rng.random()))
                # An exact duplicate of one detection.
                det_rows.append(
                    (vid, ts, *det_box, int(labels[0]), rng.random()))
            for _ in range(rng.integers(0, 3)):
                det_rows.append(
                    (vid, ts, *_box(rng), int(rng.integers(1,
                                                           9)), rng.random()))
    path = dict(
        gt=tmp_path / 'gt.csv',
        det=tmp_path / 'det.csv',
        exclude=tmp_path / 'excluded.csv',
        label=tmp_path / 'labels.pbtxt')
    with open(path['gt'], 'w') as f:
        for vid, ts, x1, y1, x2, y2, label, pid in gt_rows:
            f.write(f'{vid},{ts:04d},{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f},'
                    f'{label},{pid}\n')
    write_ava_csv(det_rows, path['det'])
    with open(path['exclude'], 'w') as f:
        for vid, ts in excluded:
            f.write(f'{vid},{ts:04d}\n')
    write_labelmap(path['label'])
    return path


@pytest.mark.filterwarnings('ignore:Mean of empty slice')
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_same_ap_as_reference(tmp_path, seed):
    path = make_fixture(tmp_path, seed)
    ref_map, ref_aps = reference_eval(path['det'], path['gt'], path['label'],
                                      path['exclude'])
    ours = evaluate_ava(
        str(path['det']),
        str(path['gt']),
        str(path['label']),
        exclude_file=str(path['exclude']),
        max_dets_per_frame=None)
    assert ours['mAP'] == pytest.approx(ref_map, abs=1e-12)
    assert 0 < ours['mAP'] < 1
    for cid, name in EVAL_CLASSES.items():
        ap = ours[f'AP/{cid}_{name}']
        if cid == 8:  # detections but no ground truth
            assert math.isnan(ap) and math.isnan(ref_aps[cid])
        else:
            assert ap == pytest.approx(ref_aps[cid], abs=1e-12)
    assert not any(
        k.startswith('AP/4_') or k.startswith('AP/7_') for k in ours)


def test_hand_computed_ap_and_protocol_points(tmp_path):
    """Duplicates, unmatched GT classes and the per-frame limit."""
    gt = tmp_path / 'gt.csv'
    gt.write_text('v,0902,0.1,0.1,0.5,0.5,1,0\n'
                  'v,0902,0.5,0.5,0.9,0.9,1,1\n'
                  'v,0902,0.5,0.5,0.9,0.9,2,1\n')
    label = tmp_path / 'labels.pbtxt'
    write_labelmap(label)
    det = tmp_path / 'det.csv'
    # Class 1: TP (0.9), duplicate of it -> FP (0.8), FP on a frame
    # without GT (0.7), TP (0.6): precision 1, .5, .33, .5 at recall
    # .5, .5, .5, 1 -> AP = .5 * 1 + .5 * .5 = .75. Class 2 has GT but no
    # detection: AP 0, counted in the mean.
    det.write_text('v,0902,0.1,0.1,0.5,0.5,1,0.9\n'
                   'v,0902,0.1,0.1,0.5,0.5,1,0.8\n'
                   'v,0903,0.1,0.1,0.5,0.5,1,0.7\n'
                   'v,0902,0.5,0.5,0.9,0.9,1,0.6\n')
    res = evaluate_ava(str(det), str(gt), str(label))
    assert res['AP/1_stand'] == pytest.approx(0.75)
    assert res['AP/2_sit'] == 0
    assert res['mAP'] == pytest.approx(0.375)
    # With one detection per frame only the best one (TP) survives.
    res = evaluate_ava(str(det), str(gt), str(label), max_dets_per_frame=1)
    assert res['AP/1_stand'] == pytest.approx(0.5)
    # An excluded keyframe removes its FP.
    excl = tmp_path / 'excl.csv'
    excl.write_text('v,0903\n')
    res = evaluate_ava(str(det), str(gt), str(label), exclude_file=str(excl))
    assert res['AP/1_stand'] == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_malformed_csv_line_names_file_and_line(tmp_path):
    bad = tmp_path / 'bad.csv'
    bad.write_text('v,0902,0.1,0.1,0.5,0.5,1\nv,0903,0.1,oops,0.5,0.5,1\n')
    with pytest.raises(ValueError, match=r'bad\.csv:2'):
        read_ava_csv(str(bad))


def test_metric_end_to_end_writes_official_csv(tmp_path):
    """process + compute_metrics: pixel boxes normalised, CSV written,
    long-tail buckets from training frequencies."""
    label = tmp_path / 'labels.pbtxt'
    write_labelmap(label)
    gt = tmp_path / 'gt.csv'
    gt.write_text('v,0902,0.25,0.25,0.5,0.75,1,0\n'
                  'v,0902,0.25,0.25,0.5,0.75,3,0\n')
    train = tmp_path / 'train.csv'
    train.write_text('w,0902,0.1,0.1,0.5,0.5,1,0\n' * 5 +
                     'w,0902,0.1,0.1,0.5,0.5,2,0\n' * 2 +
                     'w,0902,0.1,0.1,0.5,0.5,3,0\n')
    out = tmp_path / 'sub' / 'det.csv'
    metric = AVAMetric(
        ann_file=str(gt),
        label_file=str(label),
        train_ann_file=str(train),
        long_tail_thresholds=(2, 5),
        out_file=str(out))
    sample = ActionDataSample(
        metainfo=dict(video_id='v', timestamp=902, img_shape=(40, 80)))
    scores = torch.zeros(1, 8)
    scores[0, 0] = 0.9  # class 1: TP
    scores[0, 2] = 0.001  # class 3: below action_thr, not written
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[20., 10., 40., 30.]]), scores=scores)
    metric.process({}, [sample.to_dict()])
    res = metric.compute_metrics(metric.results)
    assert out.read_text() == 'v,0902,0.2500,0.2500,0.5000,0.7500,1,0.900000\n'
    assert res['AP/1_stand'] == pytest.approx(1.0)
    assert res['AP/3_walk'] == 0
    assert res['head_mAP'] == pytest.approx(1.0)  # class 1: 5 rows
    assert res['tail_mAP'] == 0  # class 3: 1 row (class 5, 6: no GT)
    assert math.isnan(res['middle_mAP'])  # class 2: no GT in val
