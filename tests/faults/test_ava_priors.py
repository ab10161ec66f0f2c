"""Fault suite: AVA proposals, label maps and frames, and prior files
(issue 17 items 2, 6, 7, 8, 12 and the malformed prior file case)."""
import os
import os.path as osp
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mvitx.datasets.demo import SCALES, make_ava
from mvitx.datasets.prior_store import PriorFileError
from mvitx.registry import DATASETS, MODELS
from mvitx.utils import PickleSafetyError, load_config, register_all_modules
from tests.helpers import ROOT, load_tool

CONFIG = osp.join(ROOT, 'configs', 'ava', 'mvit_xs_demo_ava.py')
TOPDOWN = osp.join(ROOT, 'configs', 'ava', 'mvit_xs_demo_ava_topdown.py')
LABELS = 'annotations/ava_action_list_demo.pbtxt'
VAL_PROPOSALS = 'annotations/ava_dense_proposals_val_demo.pkl'
# The clip of the first keyframe (second 1 = frame 10 at 10 fps, 8 frames
# centred on it) reads img_00007.jpg to img_00014.jpg.
KEYFRAME_JPEG = 'img_00011.jpg'


@pytest.fixture(scope='module')
def demo_ava(tmp_path_factory):
    """The tiny demo AVA set, written once for this module."""
    root = tmp_path_factory.mktemp('demo') / 'ava'
    make_ava(str(root), 0, SCALES['tiny'])
    return root


@pytest.fixture
def ava(demo_ava, tmp_path):
    """A copy of the demo AVA set that the test may damage."""
    return Path(shutil.copytree(demo_ava, tmp_path / 'ava'))


def build_dataset(data, split='test', config=CONFIG):
    """The ``split`` dataset of ``config`` on the demo set ``data``."""
    register_all_modules()
    cfg = load_config(config)[f'{split}_dataloader'].dataset
    cfg.data_root = str(data)
    return DATASETS.build(cfg)


def run_tool(script, data, work_dir, *args, options=()):
    """Runs ``script CONFIG *args --work-dir work_dir --cfg-options ...``
    with the demo AVA config on the demo set ``data`` and ``options``;
    returns the exit status and the output."""
    ann = data / 'annotations'
    options = list(options)
    for split in ('train', 'val', 'test'):
        options += [
            f'{split}_dataloader.dataset.data_root={data}',
            f'{split}_dataloader.batch_size=2',
            f'{split}_dataloader.num_workers=0',
            f'{split}_dataloader.persistent_workers=False'
        ]
    for split in ('val', 'test'):
        options += [
            f'{split}_evaluator.ann_file={ann}/ava_val_demo.csv',
            f'{split}_evaluator.label_file={data}/{LABELS}',
            f'{split}_evaluator.exclude_file={ann}/'
            'ava_val_excluded_timestamps_demo.csv',
            f'{split}_evaluator.train_ann_file={ann}/ava_train_demo.csv',
            f'{split}_evaluator.out_file={work_dir}/ava_detections.csv'
        ]
    cmd = [
        sys.executable,
        osp.join(ROOT, script), CONFIG, *map(str, args), '--work-dir',
        str(work_dir), '--cfg-options', *options
    ]
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=dict(os.environ, OMP_NUM_THREADS='1'),
        capture_output=True,
        text=True,
        timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


class _TouchMarker:
    """Unpickles as ``os.system('touch marker')``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


@pytest.mark.parametrize('entry', ['tools/test.py', 'tools/demo/ava_demo.py'])
def test_i02_crafted_proposal_pickle_is_refused(ava, tmp_path, entry):
    """An AVA proposal pickle that runs ``touch`` when unpickled, given to
    ``tools/test.py`` (demo AVA config) or ``tools/demo/ava_demo.py
    --proposals``.

    Outcome: Refused with ``PickleSafetyError`` naming the file and the
    global (``posix.system``); nothing runs, no marker file appears.
    """
    marker = tmp_path / 'PWNED'
    proposals = ava / VAL_PROPOSALS
    proposals.write_bytes(pickle.dumps({'val00,0001': _TouchMarker(marker)}))
    register_all_modules()
    model = MODELS.build(load_config(CONFIG).model)
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    if entry == 'tools/test.py':
        returncode, log = run_tool(entry, ava, tmp_path / 'work', checkpoint)
        assert returncode != 0
        assert f'PickleSafetyError: {proposals} was refused' in log
        assert 'posix.system' in log
    else:
        with pytest.raises(PickleSafetyError, match='posix.system') as err:
            load_tool(entry).main([
                str(ava / 'videos' / 'val00.mp4'), CONFIG,
                str(checkpoint), '--out',
                str(tmp_path / 'out.mp4'), '--proposals',
                str(proposals), '--cfg-options',
                f'test_dataloader.dataset.data_root={ava}'
            ])
        assert str(proposals) in str(err.value)
        assert not (tmp_path / 'out.mp4').exists()
    assert not marker.exists()


@pytest.mark.parametrize('text, line, message', [
    ('item {\n  name: "stand"\n}\n', 1, 'item has no id'),
    ('item {\n  id: 1\n}\n', 1, 'item has no name'),
    ('item {\n  name: stand\n  id: 1\n}\n', 2, 'expected a quoted name'),
    ('item {\n  name: "stand"\n  id: 1\n}\n'
     'item {\n  name: "walk"\n  id: 1\n}\n', 7, 'class id 1 of \'walk\' is '
     'already used at line 3'),
    ('\n', None, 'no classes; expected item { name: "..." id: N }'),
])
def test_i06_malformed_label_map_names_file_and_line(ava, text, line, message):
    """An AVA label map with an item without ``id:`` or ``name:``, an
    unquoted name, a duplicate id, or no items at all, read by the demo AVA
    config's dataset.

    Outcome: ``ValueError`` naming ``file:line`` (the file alone when it has
    no items) and what was expected, when the dataset is built.
    """
    (ava / LABELS).write_text(text)
    where = str(ava / LABELS) + ('' if line is None else f':{line}')
    with pytest.raises(ValueError) as err:
        build_dataset(ava)
    assert str(err.value).startswith(f'{where}: {message}')


@pytest.mark.parametrize(
    'value, message', [
        (np.ones((2, 3)), r'expected \(N, 5\) x1, y1, x2, y2, score or '
         r'\(N, 4\) boxes, got \(2, 3\)'),
        (np.array([0.1, 0.1, 0.5, 0.5, 0.9]), r'got \(5,\)'),
        (np.array([[0.1, 0.1, np.nan, 0.5, 0.9]]), r'row 0 \[0.1, 0.1, nan, '
         r'0.5, 0.9\] has NaN or inf'),
        (np.array([[12., 30., 200., 220., 0.9]]),
         'look like pixels and must be normalised by the frame size'),
        (np.array([[0.5, 0.1, 0.1, 0.5, 0.9]]), 'expected x1 <= x2'),
        (np.array([[0.1, 0.1, 0.5, 0.5, 1.5]]), 'a score outside'),
    ],
    ids=['N3', '1d', 'nan', 'pixels', 'inverted', 'score'])
@pytest.mark.parametrize('split, files', [('train', 'train'), ('test', 'val')])
def test_i07_malformed_proposals_name_file_and_key(ava, value, message, split,
                                                   files):
    """AVA proposals of shape ``(N, 3)`` or 1-D, with NaN, in pixels, with
    ``x1 > x2``, or with a score above 1, read by the demo AVA config's
    training or test dataset.

    Outcome: ``ValueError`` naming ``file:key`` and what was expected (for
    pixels: normalise by the frame size), when the dataset is built.
    """
    path = ava / f'annotations/ava_dense_proposals_{files}_demo.pkl'
    key = f'{files}00,0001'
    with open(path, 'rb') as f:
        proposals = pickle.load(f)
    proposals[key] = value
    path.write_bytes(pickle.dumps(proposals))
    with pytest.raises(ValueError, match=message) as err:
        build_dataset(ava, split)
    assert str(err.value).startswith(f"{path}:'{key}': ")


@pytest.mark.parametrize('field, index', [('box_scores', (0, 0)),
                                          ('keypoints', (0, 0, 5, 0)),
                                          ('keypoints', (0, 0, 5, 2))])
def test_i08_nan_in_prior_file_names_file_and_field(ava, field, index):
    """A prior file with a NaN box score, keypoint coordinate or keypoint
    score, loaded by the top-down demo AVA config's training pipeline.

    Outcome: ``PriorFileError`` naming the file, the field and the index of
    the NaN.
    """
    path = ava / 'priors' / 'train00.npz'
    with np.load(path) as f:
        fields = dict(f)
    # The demo's prior files have no keypoints (P = 0): give them a person.
    num, _, k, _ = fields['keypoints'].shape
    fields['keypoints'] = np.ones((num, 1, k, 3), np.float32)
    fields[field][index] = np.nan
    np.savez(path, **fields)  # as a writer that does not validate would
    dataset = build_dataset(ava, 'train', TOPDOWN)
    with pytest.raises(PriorFileError) as err:
        dataset[0]
    assert str(err.value).startswith(
        f'invalid prior file {path}: {field}{list(index)} is nan; {field} '
        'must be finite')


def test_i12_missing_ava_frame_is_skipped_in_training_raises_in_test(
        ava, tmp_path):
    """A frame file deleted from the demo AVA set, in a training clip
    (``tools/train.py``, 2 iterations) and in a test clip
    (``tools/test.py``).

    Outcome: Training skips the keyframe, logs a WARNING naming the frame
    and the count (1) and finishes; testing fails with
    ``BrokenInputError`` naming the frame.
    """
    train_frame = ava / 'frames' / 'train00' / KEYFRAME_JPEG
    test_frame = ava / 'frames' / 'val00' / KEYFRAME_JPEG
    train_frame.unlink()
    test_frame.unlink()
    work = tmp_path / 'work'
    returncode, log = run_tool(
        'tools/train.py',
        ava,
        work,
        options=('train_cfg.max_iters=2', 'train_cfg.val_begin=3',
                 'train_dataloader.sampler.shuffle=False'))
    assert returncode == 0, log[-3000:]
    warnings = [line for line in log.splitlines() if 'WARNING' in line]
    assert any(f'Skipped broken file {train_frame}' in line
               and '1 broken file(s) skipped so far' in line
               for line in warnings), log[-3000:]
    assert (work / 'iter_2.pth').exists()

    returncode, log = run_tool('tools/test.py', ava, tmp_path / 'test',
                               work / 'iter_2.pth')
    assert returncode != 0
    assert f'BrokenInputError: cannot load {test_frame}' in log, log[-3000:]


@pytest.mark.parametrize(
    'damage',
    ['not a zip', 'truncated', 'missing field', 'wrong shape', 'object array'])
def test_works_malformed_prior_file_names_the_file(ava, damage):
    """A prior file that is not a zip, is cut in half, lacks ``boxes``, has
    boxes of shape ``(F, M, 5)`` or holds a pickled object array, loaded by
    the top-down demo AVA config's training pipeline.

    Outcome: ``PriorFileError`` naming the file and what is wrong; the
    training sample is not silently skipped.
    """
    path = ava / 'priors' / 'train00.npz'
    data = path.read_bytes()
    with np.load(path) as f:
        fields = dict(f)
    if damage == 'not a zip':
        path.write_bytes(b'not a zip file')
    elif damage == 'truncated':
        path.write_bytes(data[:len(data) // 2])
    elif damage == 'missing field':
        del fields['boxes']
        np.savez(path, **fields)
    elif damage == 'wrong shape':
        fields['boxes'] = np.zeros(fields['boxes'].shape[:2] + (5, ))
        np.savez(path, **fields)
    else:
        fields['meta'] = np.array([{'fps': 10}], dtype=object)
        np.savez(path, **fields)
    dataset = build_dataset(ava, 'train', TOPDOWN)
    with pytest.raises(PriorFileError, match=f'invalid prior file {path}: '):
        dataset[0]
