"""Fault cases of the recognition data (issue 17 items 3, 4, 5 and 13, and
broken videos): annotation files with a byte-order mark, malformed list
files and Kinetics CSVs, labels out of range, a class missing from a split,
truncated and garbled JPEGs, missing data folders, broken videos."""
import glob
import os
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mvitx.datasets import ImageDataset, VideoDataset
from mvitx.datasets.transforms import BrokenInputError
from mvitx.registry import MODELS
from mvitx.utils import load_config, register_all_modules
from tests.datasets.conftest import write_jpeg, write_video
from tests.helpers import ROOT, dist_train
from tests.test_configs import CONFIGS, _datasets

BOM = '\ufeff'
VIDEO_PIPELINE = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=4, frame_interval=2),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='PackActionInputs'),
]
IMAGE_PIPELINE = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(16, 16)),
    dict(type='PackActionInputs'),
]
KINETICS_HEADER = 'label,youtube_id,time_start,time_end,split\n'


@pytest.fixture(autouse=True)
def _registered():
    register_all_modules()


class TinyModel(BaseModel):
    """Mean-pools the clip or image into a linear classifier."""

    def __init__(self):
        super().__init__(data_preprocessor=dict(type='ActionDataPreprocessor'))
        self.fc = nn.Linear(3, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        logits = self.fc(inputs.flatten(2).mean(2))
        labels = torch.cat([s.gt_label for s in data_samples])
        return dict(loss=nn.functional.cross_entropy(logits, labels))


def train_one_epoch(work_dir, dataset: dict):
    """Trains :class:`TinyModel` for one epoch of ``dataset`` (batch 1);
    returns the runner and its log."""
    runner = Runner(
        model=TinyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=dataset,
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=1,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        default_scope='mvitx')
    runner.train()
    with open(glob.glob(osp.join(runner.log_dir, '*.log'))[0]) as f:
        return runner, f.read()


def write_kinetics(root, split: str, labels, text=None) -> str:
    """Writes ``root/{split}.csv`` with one clip per label (or ``text``) and
    the clips ``root/videos/<youtube_id>_000000_000003.mp4``; returns the
    CSV path."""
    os.makedirs(osp.join(root, 'videos'), exist_ok=True)
    rows = []
    for i, label in enumerate(labels):
        vid = f'{split}{i}'
        write_video(
            osp.join(root, 'videos', f'{vid}_000000_000003.mp4'),
            num_frames=8,
            size=(32, 32))
        rows.append(f'{label},{vid},0,3,{split}\n')
    path = osp.join(root, f'{split}.csv')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(KINETICS_HEADER + ''.join(rows) if text is None else text)
    return path


TEST_CONFIG = """\
_base_ = [{runtime!r}]
test_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CoTrainDataset',
        datasets=dict(
            k=dict(
                type='VideoDataset',
                source='k',
                ann_file='val.csv',
                classes='train.csv',
                data_root={root!r},
                data_prefix=dict(video='videos'),
                test_mode=True,
                pipeline={pipeline!r}))))
test_evaluator = dict(type='AccMetric', topk=(1, ))
test_cfg = dict(type='TestLoop')
model = dict(
    type='CoTrainRecognizer',
    backbone=dict(type='MViT', arch='xs'),
    heads=dict(k=dict(type='ClsHead', num_classes=2, in_channels=64)),
    data_preprocessor=dict(type='ActionDataPreprocessor'))
"""


def test_i03_kinetics_csv_with_bom_reads_labels(tmp_path):
    """Kinetics CSVs saved with a UTF-8 byte-order mark, evaluated with
    tools/test.py by a model that always predicts the second class.

    Outcome: the labels are read (top-1 100.0 where the mark made every
    label -1 and top-1 0.0).
    """
    root = tmp_path / 'k'
    for split, labels in (('train', ['run', 'swim']), ('val', ['swim'] * 2)):
        path = write_kinetics(str(root), split, labels)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        with open(path, 'w', encoding='utf-8') as f:
            f.write(BOM + text)
    config = tmp_path / 'cfg.py'
    config.write_text(
        TEST_CONFIG.format(
            runtime=osp.join(ROOT, 'configs', '_base_', 'default_runtime.py'),
            root=str(root),
            pipeline=VIDEO_PIPELINE))
    # Zero weights and a bias towards class 1 ('swim'): every prediction
    # is 'swim', so top-1 is 100 exactly when the labels are read.
    model = MODELS.build(load_config(str(config)).model)
    state = model.state_dict()
    state['heads.k.fc.weight'].zero_()
    state['heads.k.fc.bias'].copy_(torch.tensor([0., 5.]))
    torch.save(dict(state_dict=state), tmp_path / 'swim.pth')
    proc = subprocess.run([
        sys.executable, 'tools/test.py',
        str(config),
        str(tmp_path / 'swim.pth'), '--work-dir',
        str(tmp_path / 'work')
    ],
                          cwd=ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS='1'),
                          capture_output=True,
                          text=True,
                          timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert re.search(r'k/top1: 100\.0', log), log[-3000:]


def test_i03_list_file_with_bom_reads_first_video(tmp_path):
    """A `path label` list file and a class-names file saved with a UTF-8
    byte-order mark.

    Outcome: the first video loads with its label and the first class name
    has no mark (before, the first video was skipped as missing).
    """
    write_video(tmp_path / 'a.mp4', num_frames=8, size=(32, 32))
    write_video(tmp_path / 'b.mp4', num_frames=8, size=(32, 32))
    (tmp_path / 'list.txt').write_text(
        BOM + 'a.mp4 jump\nb.mp4 run\n', encoding='utf-8')
    (tmp_path / 'classes.txt').write_text(
        BOM + 'run\njump\n', encoding='utf-8')
    dataset = VideoDataset(
        ann_file='list.txt',
        classes=str(tmp_path / 'classes.txt'),
        data_root=str(tmp_path),
        pipeline=VIDEO_PIPELINE)
    assert dataset.metainfo['classes'] == ('run', 'jump')
    assert dataset.get_data_info(0)['filename'] == str(tmp_path / 'a.mp4')
    sample = dataset[0]['data_samples']
    assert sample.gt_label.tolist() == [1]
    assert not dataset.broken_indices


@pytest.mark.parametrize('dataset_type,class_args,label',
                         [(VideoDataset, dict(classes='classes.txt'), '99'),
                          (VideoDataset, dict(classes='classes.txt'), '-1'),
                          (ImageDataset, dict(num_classes=10), '10')])
def test_i04_list_label_out_of_range_names_file_line(tmp_path, dataset_type,
                                                     class_args, label):
    """A list file of 10 classes with a label of 99, -1 or 10 on line 2.

    Outcome: a ValueError `list.txt:2: label 99 outside [0, 10)` when the
    dataset is built, before any training step.
    """
    (tmp_path / 'classes.txt').write_text(''.join(f'c{i}\n'
                                                  for i in range(10)))
    (tmp_path / 'list.txt').write_text(f'a.mp4 3\nb.mp4 {label}\n')
    message = f'{tmp_path / "list.txt"}:2: label {label} outside [0, 10)'
    with pytest.raises(ValueError, match=re.escape(message)):
        dataset_type(
            ann_file='list.txt',
            data_root=str(tmp_path),
            pipeline=[],
            **class_args)


def test_i04_list_row_with_extra_column_names_file_line(tmp_path):
    """A list-file row with an extra column (`b c.mp4 0`, an unquoted path
    with a space).

    Outcome: a ValueError naming `list.txt:2`, the 3 fields and the format
    (quote a path that has spaces).
    """
    (tmp_path / 'list.txt').write_text('a.mp4 1\nb c.mp4 0\n')
    with pytest.raises(
            ValueError,
            match=r'list.txt:2: 3 fields .*expected one `path label` per '
            r'line.*double quotes \("a b.mp4" 3\)'):
        VideoDataset(
            ann_file=str(tmp_path / 'list.txt'), pipeline=[], num_classes=2)


@pytest.mark.parametrize(
    'text,message',
    [(KINETICS_HEADER + 'run,abc,10,20,train\nrun,abd,10\n',
      r'val.csv:3: 3 fields, expected 5 \(label,youtube_id,time_start,'
      r'time_end,split\)'),
     ('name,id,start,end,split\nrun,abc,10,20,train\n',
      r"val.csv:1: header 'name,id,start,end,split' lacks youtube_id, "
      r"time_start, time_end; expected the header 'label,youtube_id,"
      r"time_start,time_end,split'"),
     ('', r"val.csv: empty file; expected the header 'label,youtube_id,"),
     (KINETICS_HEADER, r'val.csv: no rows after the header'),
     (KINETICS_HEADER + 'run,abc,ten,20,train\n',
      r"val.csv:2: time_start 'ten' is not a number")],
    ids=['short-row', 'wrong-header', 'empty', 'header-only', 'bad-time'])
def test_i04_malformed_kinetics_csv_names_file_line(tmp_path, text, message):
    """A Kinetics CSV with a short row, a wrong header, no content, only a
    header, or a time that is not a number.

    Outcome: a ValueError naming the file (and line) and the expected
    header or field count, instead of TypeError/KeyError later.
    """
    (tmp_path / 'val.csv').write_text(text)
    with pytest.raises(ValueError, match=message):
        VideoDataset(
            ann_file=str(tmp_path / 'val.csv'),
            pipeline=[],
            classes=['run', 'swim'],
            test_mode=True)


def test_i04_class_missing_from_split_keeps_ids(tmp_path):
    """A Kinetics validation CSV in which one class of the training CSV has
    no clip.

    Outcome: the class list comes from `classes='train.csv'` for both
    splits, so every id agrees with training (before, the ids of the
    validation split were its own sorted names, shifted by one).
    """
    write_kinetics(str(tmp_path), 'train', ['run', 'jump', 'swim'])
    write_kinetics(str(tmp_path), 'val', ['swim', 'jump'])
    common = dict(
        classes='train.csv',
        data_root=str(tmp_path),
        data_prefix=dict(video='videos'),
        pipeline=[])
    train = VideoDataset(ann_file='train.csv', **common)
    val = VideoDataset(ann_file='val.csv', test_mode=True, **common)
    assert val.metainfo['classes'] == ('jump', 'run', 'swim')
    assert train.metainfo == val.metainfo
    assert [val.get_data_info(i)['label'] for i in range(2)] == [2, 0]


def test_i04_kinetics_csv_without_class_list_is_an_error(tmp_path):
    """A Kinetics CSV of class names given without `classes`.

    Outcome: a ValueError naming `train.csv:2` that says how to give the
    class list (before, each file's own sorted names were its ids).
    """
    write_kinetics(str(tmp_path), 'train', ['run', 'swim'])
    with pytest.raises(
            ValueError,
            match=r"train.csv:2: class name 'run' but no class list; give "
            r'`classes=` \(a list, a file of names one a line, or for '
            r'Kinetics the training CSV\), the same for every split'):
        VideoDataset(ann_file=str(tmp_path / 'train.csv'), pipeline=[])


def test_i04_image_split_missing_class_folder_is_an_error(tmp_path):
    """An ImageNet-layout validation folder that lacks one of the three
    class folders, with `num_classes=3`.

    Outcome: a ValueError `2 class folders in .../val, but 3 classes`
    instead of ids shifted from that class on.
    """
    for folder in ('a', 'c'):
        os.makedirs(tmp_path / 'val' / folder)
        write_jpeg(tmp_path / 'val' / folder / 'x.jpg')
    with pytest.raises(
            ValueError,
            match=re.escape(f'2 class folders in {tmp_path / "val"}, but 3 '
                            'classes')):
        ImageDataset(
            ann_file='',
            data_root=str(tmp_path),
            data_prefix=dict(img_path='val'),
            num_classes=3,
            pipeline=[])


def test_i04_shipped_configs_check_labels_with_one_class_list():
    """A shipped config whose dataset knows no number of classes, or whose
    validation split has another class list than training.

    Outcome: every ImageDataset/VideoDataset under configs/ gives `classes`
    or `num_classes`, the same for each split of a source.
    """
    checked = 0
    plugins = glob.glob(osp.join(ROOT, 'projects', '*', 'configs', '*.py'))
    for path in CONFIGS + plugins:
        cfg = load_config(path)
        lists = {}
        for split in ('train', 'val', 'test'):
            for ds in _datasets(cfg.get(f'{split}_dataloader')):
                assert 'classes' in ds or 'num_classes' in ds, (path, split)
                lists.setdefault(ds['source'], set()).add(
                    (ds.get('classes'), ds.get('num_classes'),
                     ds.get('data_root')))
                checked += 1
        assert all(len(v) == 1 for v in lists.values()), (path, lists)
    assert checked


def write_damaged_jpegs(root) -> None:
    """Writes two good JPEGs, a truncated one and one with a garbled
    header, and ``list.txt`` over them."""
    for name in ('good0.jpg', 'good1.jpg'):
        write_jpeg(root / name, size=(64, 48))
    data = (root / 'good0.jpg').read_bytes()
    (root / 'truncated.jpg').write_bytes(data[:len(data) // 2])
    garbled = bytearray(data)
    garbled[2:202] = np.random.default_rng(0).integers(
        0, 256, 200, dtype=np.uint8).tobytes()
    (root / 'garbled.jpg').write_bytes(bytes(garbled))
    lines = ['good0.jpg 0', 'truncated.jpg 1', 'garbled.jpg 0', 'good1.jpg 1']
    (root / 'list.txt').write_text('\n'.join(lines) + '\n')


def test_i05_damaged_jpegs_skipped_in_training_raise_in_test(tmp_path):
    """A truncated JPEG (second half cut) and a JPEG with a garbled header in
    an image list.

    Outcome: training skips, names and counts both (`Skipped broken file
    ...truncated.jpg (truncated JPEG (no end-of-image marker))`); test mode
    raises BrokenInputError naming the file (before, the truncated image
    loaded partly grey).
    """
    write_damaged_jpegs(tmp_path)
    dataset = dict(
        type='ImageDataset',
        ann_file='list.txt',
        data_root=str(tmp_path),
        pipeline=IMAGE_PIPELINE)
    runner, log = train_one_epoch(tmp_path / 'work', dataset)
    assert runner.iter == 4  # every index yields a sample
    truncated, garbled = tmp_path / 'truncated.jpg', tmp_path / 'garbled.jpg'
    assert (f'Skipped broken file {truncated} (truncated JPEG (no '
            'end-of-image marker))') in log
    assert (f'Skipped broken file {garbled} (not a readable image (the '
            'decoder failed))') in log
    assert log.count('Skipped broken file') == 2
    assert '2 broken file(s) skipped so far' in log
    assert sorted(runner.train_dataloader.dataset.broken_indices) == [1, 2]
    test = ImageDataset(
        ann_file='list.txt',
        data_root=str(tmp_path),
        pipeline=IMAGE_PIPELINE,
        test_mode=True)
    assert test[0]['inputs'].shape == (3, 16, 16)
    with pytest.raises(BrokenInputError, match='truncated.jpg: truncated'):
        test[1]
    with pytest.raises(BrokenInputError, match='garbled.jpg: not a readable'):
        test[2]


def test_i13_missing_demo_data_root_names_it_and_the_command(tmp_path):
    """tools/dist_train.sh configs/cotrain/mvit_xs_demo.py 2 with the demo
    data not created (its data roots point into a missing `demo` folder).

    Outcome: a non-zero exit whose only error, on every rank that reports,
    is `FileNotFoundError: Data root .../demo/imagenet does not exist` with
    the make_demo_data.py command, not a raw `[Errno 2]` from mmengine.
    """
    demo = tmp_path / 'absent' / 'demo'
    options = [
        f'{split}_dataloader.dataset.datasets.demo_{kind}.data_root='
        f'{demo}/{folder}' for split in ('train', 'val')
        for kind, folder in (('img', 'imagenet'), ('vid', 'kinetics'))
    ]
    proc = dist_train(
        osp.join(ROOT, 'configs', 'cotrain', 'mvit_xs_demo.py'),
        tmp_path / 'work',
        '--cfg-options',
        *options,
        check=False)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert '[Errno 2]' not in log
    message = (f'FileNotFoundError: Data root {demo}/imagenet does not exist '
               '(the demo data: create it with `python '
               'tools/data/make_demo_data.py --out data/demo`)')
    # A rank's traceback comes from tools/train.py; torchrun may stop the
    # other rank before it prints, so every error line that any rank
    # printed must be the clear one.
    errors = re.findall(r'^\[rank\d\]: (\w+Error: .*)$', log, re.MULTILINE)
    assert errors and set(errors) == {message}, log[-3000:]


def test_i13_missing_image_folder_is_named(tmp_path):
    """An ImageNet-layout dataset whose data root exists but whose image
    folder (`data_prefix.img_path`) does not.

    Outcome: a FileNotFoundError `Image folder .../demo/imagenet/train does
    not exist` with the make_demo_data.py command, not a raw one from
    os.scandir.
    """
    root = tmp_path / 'demo' / 'imagenet'
    os.makedirs(root)
    with pytest.raises(
            FileNotFoundError,
            match=re.escape(f'Image folder {root / "train"} does not exist '
                            '(the demo data: create it with `python '
                            'tools/data/make_demo_data.py')):
        ImageDataset(
            ann_file='',
            data_root=str(root),
            data_prefix=dict(img_path='train'),
            pipeline=[])


def write_broken_videos(root) -> None:
    """Three good clips, a corrupt one (its first 300 bytes) and a missing
    one, in ``list.txt``."""
    for name in ('good0.mp4', 'good1.mp4', 'good2.mp4'):
        write_video(root / name, num_frames=12, size=(32, 32))
    (root / 'corrupt.mp4').write_bytes((root / 'good0.mp4').read_bytes()[:300])
    lines = [
        'good0.mp4 0', 'corrupt.mp4 1', 'good1.mp4 1', 'missing.mp4 0',
        'good2.mp4 0'
    ]
    (root / 'list.txt').write_text('\n'.join(lines) + '\n')


def test_works_broken_videos_skipped_and_counted_in_training(tmp_path):
    """A training list with a corrupt (cut) video and a missing one.

    Outcome: each is skipped, named once in a WARNING with the running
    count (`2 broken file(s) skipped so far`), and replaced by another
    sample, so every step trains.
    """
    write_broken_videos(tmp_path)
    dataset = dict(
        type='VideoDataset',
        ann_file=str(tmp_path / 'list.txt'),
        data_prefix=dict(video=str(tmp_path)),
        pipeline=VIDEO_PIPELINE)
    runner, log = train_one_epoch(tmp_path / 'work', dataset)
    assert runner.iter == 5  # every index yields a sample
    assert f'Skipped broken file {tmp_path / "corrupt.mp4"}' in log
    assert f'Skipped broken file {tmp_path / "missing.mp4"}' in log
    # each broken file is logged once, with the running count
    assert log.count('Skipped broken file') == 2
    assert '1 broken file(s) skipped so far' in log
    assert '2 broken file(s) skipped so far' in log
    assert sorted(runner.train_dataloader.dataset.broken_indices) == [1, 3]


def test_works_broken_videos_raise_in_test(tmp_path):
    """A corrupt and a missing video in a test list, or in training with
    `on_error='raise'`.

    Outcome: BrokenInputError naming the file.
    """
    write_broken_videos(tmp_path)
    common = dict(
        ann_file=str(tmp_path / 'list.txt'),
        data_prefix=dict(video=str(tmp_path)),
        pipeline=VIDEO_PIPELINE)
    test = VideoDataset(test_mode=True, **common)
    assert test[0]['inputs'].shape == (3, 4, 32, 32)
    with pytest.raises(BrokenInputError, match='corrupt.mp4'):
        test[1]
    with pytest.raises(BrokenInputError, match='missing.mp4'):
        test[3]
    strict = VideoDataset(on_error='raise', **common)
    with pytest.raises(BrokenInputError, match='missing.mp4'):
        strict[3]
