"""AVAMetric against mmaction2's port of the official AVA evaluation, and
both official protocols on cases computed by hand."""
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

from mvitx.datasets.ava_files import (read_ava_csv, read_exclusions,
                                      read_labelmap)
from mvitx.evaluation.metrics.ava_metric import (AVAMetric, evaluate_ava,
                                                 frame_ap, write_ava_csv)
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


def write_protocol_case(root):
    """Files where the two protocols differ; returns their paths.

    Ground truth: two class-1 actors on ``v,0902``; ``v,0904`` listed by a
    2-column row (no actors); ``v,0905`` listed by a row of class 4, which
    is not evaluated. ``v,0903`` is excluded (``'v2.2'``). Class-1
    detections, by score: an inverted box on 0902 (0.95), actor A (0.9),
    on 0903 (0.8), on 0904 (0.7), on 0905 (0.65), on 0906 (not in the
    ground truth, 0.6), a zero-width box on 0902 (0.55), actor B (0.5).
    """
    paths = dict(
        gt=root / 'gt.csv',
        gt_no_empty=root / 'gt_no_empty.csv',
        det=root / 'det.csv',
        exclude=root / 'excluded.csv',
        label=root / 'labels.pbtxt',
        train=root / 'train.csv')
    gt = ('v,0902,0.1,0.1,0.5,0.5,1,0\n'
          'v,0902,0.5,0.5,0.9,0.9,1,1\n'
          'v,0905,0.1,0.1,0.5,0.5,4,0\n')
    paths['gt'].write_text(gt + 'v,0904\n')
    paths['gt_no_empty'].write_text(gt)
    paths['det'].write_text('v,0902,0.5,0.1,0.1,0.5,1,0.95\n'
                            'v,0902,0.1,0.1,0.5,0.5,1,0.9\n'
                            'v,0903,0.1,0.1,0.5,0.5,1,0.8\n'
                            'v,0904,0.1,0.1,0.5,0.5,1,0.7\n'
                            'v,0905,0.1,0.1,0.5,0.5,1,0.65\n'
                            'v,0906,0.1,0.1,0.5,0.5,1,0.6\n'
                            'v,0902,0.3,0.1,0.3,0.5,1,0.55\n'
                            'v,0902,0.5,0.5,0.9,0.9,1,0.5\n')
    paths['exclude'].write_text('v,0903\n')
    write_labelmap(paths['label'])
    paths['train'].write_text('w,0902,0.1,0.1,0.5,0.5,1,0\n' * 3 +
                              'w,0902,0.1,0.1,0.5,0.5,2,0\n')
    return paths


#: ``(protocol, ground truth, exclusions, class-1 AP)``. Two actors; the
#: inverted and zero-width detections are dropped under both protocols, so
#: A is the first true positive (precision 1 at recall 0.5) and B the
#: second, after the false positives kept:
#: * v2.2: 0903, 0904, 0905, 0906 -> B at 2/6: AP .5 + .5 * 2/6 = 2/3
#:   (the 2-column row changes nothing);
#: * v2.2 with 0903 excluded: 2/5 -> .5 + .5 * 2/5 = .7;
#: * latest: 0904 and 0905 are listed (0905 by a non-evaluated class),
#:   0903 and 0906 are not and are ignored: 2/4 -> .75;
#: * latest without the 2-column row: only 0905 -> 2/3 -> .5 + .5 * 2/3.
PROTOCOL_CASES = [
    ('v2.2', 'gt', None, 2 / 3),
    ('v2.2', 'gt_no_empty', None, 2 / 3),
    ('v2.2', 'gt', 'exclude', 0.7),
    ('latest', 'gt', None, 0.75),
    ('latest', 'gt_no_empty', None, 0.5 + 0.5 * 2 / 3),
]


@pytest.mark.parametrize('protocol,gt,exclude,ap', PROTOCOL_CASES)
def test_protocols_on_hand_computed_cases(tmp_path, protocol, gt, exclude, ap):
    paths = write_protocol_case(tmp_path)
    res = evaluate_ava(
        str(paths['det']),
        str(paths[gt]),
        str(paths['label']),
        exclude_file=exclude and str(paths[exclude]),
        train_ann_file=str(paths['train']),
        long_tail_thresholds=(2, 3),
        protocol=protocol)
    assert res['AP/1_stand'] == pytest.approx(ap)
    # Only class 1 has ground truth: the other evaluated classes are NaN.
    assert res['mAP'] == pytest.approx(ap)
    assert res['head_mAP'] == pytest.approx(ap)  # class 1: 3 rows
    assert math.isnan(res['tail_mAP'])  # class 2: 1 row, no ground truth
    assert math.isnan(res['AP/2_sit'])


def test_latest_has_no_exclusions_and_v22_whole_seconds(tmp_path):
    paths = write_protocol_case(tmp_path)
    with pytest.raises(ValueError, match="'latest' has no exclusion file"):
        evaluate_ava(
            str(paths['det']),
            str(paths['gt']),
            str(paths['label']),
            exclude_file=str(paths['exclude']),
            protocol='latest')
    with pytest.raises(ValueError, match='protocol must be one of'):
        AVAMetric(str(paths['gt']), str(paths['label']), protocol='v2.1')
    # AVA-Kinetics keyframes are not at whole seconds: keys with
    # microseconds under 'latest' ('0017.01' and '17.010000' are one
    # keyframe, 17.02 another), an error naming file:line under 'v2.2'.
    gt = tmp_path / 'kinetics_gt.csv'
    gt.write_text('k,17.010000,0.1,0.1,0.5,0.5,1\n'
                  'k,17.020000,0.1,0.1,0.5,0.5,1\n')
    det = tmp_path / 'kinetics_det.csv'
    det.write_text('k,0017.01,0.1,0.1,0.5,0.5,1,0.9\n')
    res = evaluate_ava(
        str(det), str(gt), str(paths['label']), protocol='latest')
    assert res['AP/1_stand'] == pytest.approx(0.5)
    with pytest.raises(
            ValueError,
            match=r'kinetics_gt\.csv:1: timestamp '
            r"'17\.010000' is not whole seconds"):
        evaluate_ava(str(det), str(gt), str(paths['label']))


def test_inverted_ground_truth_box_as_the_official_code(tmp_path):
    """An inverted ground-truth box is a positive nothing matches; with a
    detection of its class on its keyframe the official code stops."""
    gt = {
        'v,0902': (np.array([[0.5, 0.1, 0.1,
                              0.5]]), np.array([2]), np.ones(1)),
        'v,0907': (np.array([[0.1, 0.1, 0.5,
                              0.5]]), np.array([2]), np.ones(1)),
    }
    dets = {
        'v,0907': (np.array([[0.1, 0.1, 0.5,
                              0.5]]), np.array([2]), np.array([0.9])),
        # Another class on the keyframe of the inverted box: no effect.
        'v,0902': (np.array([[0.1, 0.1, 0.5,
                              0.5]]), np.array([1]), np.array([0.8])),
    }
    # One true positive of two positives: AP .5 (1 if the box were
    # ignored).
    aps = frame_ap(gt, dets, [1, 2])
    assert aps[2] == pytest.approx(0.5)
    assert aps[1] != aps[1]  # NaN: class 1 has no ground truth
    dets['v,0902'] = (np.array([[0.1, 0.1, 0.5,
                                 0.5]]), np.array([2]), np.array([0.8]))
    with pytest.raises(
            ValueError,
            match=r'keyframe v,0902: ground-truth '
            r'box \[0\.5, 0\.1, 0\.1, 0\.5\] of action 2'):
        frame_ap(gt, dets, [1, 2])


def test_malformed_csv_line_names_file_and_line(tmp_path):
    bad = tmp_path / 'bad.csv'
    bad.write_text('v,0902,0.1,0.1,0.5,0.5,1\nv,0903,0.1,oops,0.5,0.5,1\n')
    with pytest.raises(ValueError, match=r'bad\.csv:2'):
        read_ava_csv(str(bad))
    bad.write_text('v,0902,0.1,0.1\n')
    with pytest.raises(ValueError, match=r'bad\.csv:1: expected 2, 7 or 8'):
        read_ava_csv(str(bad))
    bad.write_text('v,nan\n')
    with pytest.raises(
            ValueError, match=r'bad\.csv:1: timestamp .nan. is '
            'not a finite'):
        read_ava_csv(str(bad), precise=True)


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


def test_metric_latest_writes_precise_timestamps(tmp_path):
    """Under 'latest' the CSV keeps the keyframe's microseconds (an
    AVA-Kinetics keyframe), so the official script finds its key."""
    label = tmp_path / 'labels.pbtxt'
    write_labelmap(label)
    gt = tmp_path / 'gt.csv'
    gt.write_text('k,3.033333,0.25,0.25,0.5,0.75,1\n')
    out = tmp_path / 'det.csv'
    metric = AVAMetric(
        ann_file=str(gt),
        label_file=str(label),
        protocol='latest',
        out_file=str(out))
    sample = ActionDataSample(
        metainfo=dict(video_id='k', timestamp=3.033333, img_shape=(40, 80)))
    scores = torch.zeros(1, 8)
    scores[0, 0] = 0.9
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[20., 10., 40., 30.]]), scores=scores)
    metric.process({}, [sample.to_dict()])
    res = metric.compute_metrics(metric.results)
    assert out.read_text() == ('k,3.033333,0.2500,0.2500,0.5000,0.7500,1,'
                               '0.900000\n')
    assert res['AP/1_stand'] == pytest.approx(1.0)


def test_labelmap_spellings(tmp_path):
    # The evaluation list (id), the full list (label_id, label_type), items
    # on one line, and comments.
    path = tmp_path / 'labels.pbtxt'
    path.write_text('# AVA actions\n'
                    'label {\n  name: "bend/bow (at the waist)"\n'
                    '  label_id: 1\n  label_type: PERSON_MOVEMENT\n}\n'
                    'item { name: "talk to (e.g., self, a person)" id: 12 }\n'
                    'item {\n  name: "stand"  # a comment\n  id: 11\n}\n')
    categories, class_ids = read_labelmap(str(path))
    assert categories == [
        dict(id=1, name='bend/bow (at the waist)'),
        dict(id=12, name='talk to (e.g., self, a person)'),
        dict(id=11, name='stand')
    ]
    assert class_ids == [1, 11, 12]


def test_files_saved_with_a_byte_order_mark_read_the_same(tmp_path):
    """A spreadsheet's "CSV UTF-8" starts with a BOM; the first row's
    video id must not carry it (an excluded keyframe would then be kept)."""
    bom = '\ufeff'
    excl = tmp_path / 'excluded.csv'
    excl.write_text(bom + 'vid,0902\nvid,0903\n', encoding='utf-8')
    assert read_exclusions(str(excl)) == {'vid,0902', 'vid,0903'}
    gt = tmp_path / 'gt.csv'
    gt.write_text(bom + 'vid,0902,0.1,0.1,0.5,0.5,1,0\n', encoding='utf-8')
    assert list(read_ava_csv(str(gt))) == ['vid,0902']
    labels = tmp_path / 'labels.pbtxt'
    labels.write_text(
        bom + 'item {\n  name: "bend"\n  id: 1\n}\n', encoding='utf-8')
    assert read_labelmap(str(labels))[1] == [1]
