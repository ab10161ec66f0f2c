import glob
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mvitx.datasets import VideoDataset
from mvitx.datasets.transforms import BrokenInputError
from mvitx.utils import register_all_modules

PIPELINE = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=4, frame_interval=2),
    dict(type='DecordDecode'),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='PackActionInputs'),
]


@pytest.fixture(autouse=True)
def _registered():
    register_all_modules()


def test_list_file_with_class_names_and_priors(tmp_path, make_video):
    (tmp_path / 'videos' / 'sub dir').mkdir(parents=True)
    make_video(tmp_path / 'videos' / 'a.mp4')
    make_video(tmp_path / 'videos' / 'sub dir' / 'b c.mp4', num_frames=30)
    (tmp_path / 'train.txt').write_text('a.mp4 1\nsub dir/b c.mp4 jump\n\n')
    (tmp_path / 'classes.txt').write_text('run\njump\n')
    dataset = VideoDataset(
        ann_file='train.txt',
        pipeline=PIPELINE,
        data_root=str(tmp_path),
        data_prefix=dict(video='videos'),
        classes=str(tmp_path / 'classes.txt'),
        source='demo_k',
        prior_prefix='priors')
    assert len(dataset) == 2
    assert dataset.metainfo['classes'] == ('run', 'jump')
    info = dataset.get_data_info(1)
    assert info['filename'] == str(tmp_path / 'videos' / 'sub dir' / 'b c.mp4')
    assert info['label'] == 1 and info['source'] == 'demo_k'
    assert info['modality'] == 'video'
    assert info['prior_file'] == str(tmp_path / 'priors' / 'b c.npz')
    packed = dataset[1]
    assert packed['inputs'].shape == (3, 4, 32, 32)
    sample = packed['data_samples']
    assert sample.gt_label.tolist() == [1] and sample.source == 'demo_k'
    assert np.all(np.diff(sample.frame_inds) == 2)
    assert sample.frame_inds.max() < 30


def test_kinetics_csv(tmp_path):
    (tmp_path / 'train.csv').write_text(
        'label,youtube_id,time_start,time_end,split\n'
        'zumba,abc,10,20,train\n'
        '"passing American football (in game)",x-y_z,0,10,train\n')
    dataset = VideoDataset(
        ann_file=str(tmp_path / 'train.csv'),
        pipeline=[],
        data_prefix=dict(video='k400/train'))
    assert dataset.metainfo['classes'] == (
        'passing American football (in game)', 'zumba')
    first, second = dataset.get_data_info(0), dataset.get_data_info(1)
    assert first['filename'] == 'k400/train/abc_000010_000020.mp4'
    assert first['label'] == 1 and first['source'] == 'k400'
    assert second['filename'] == 'k400/train/x-y_z_000000_000010.mp4'
    assert second['label'] == 0
    (tmp_path / 'test.csv'
     ).write_text('youtube_id,time_start,time_end,split\nq,5,15,test\n')
    test = VideoDataset(ann_file=str(tmp_path / 'test.csv'), pipeline=[])
    assert test.get_data_info(0)['label'] == -1


def test_unknown_class_name_names_the_line(tmp_path):
    (tmp_path / 'l.txt').write_text('a.mp4 0\nb.mp4 swim\n')
    with pytest.raises(ValueError, match=r'l.txt:2.*swim'):
        VideoDataset(
            ann_file=str(tmp_path / 'l.txt'), pipeline=[], classes=['run'])


class TinyModel(BaseModel):
    """Mean-pools the clip into a linear classifier."""

    def __init__(self):
        super().__init__(data_preprocessor=dict(type='ActionDataPreprocessor'))
        self.fc = nn.Linear(3, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        logits = self.fc(inputs.mean((2, 3, 4)))
        labels = torch.cat([s.gt_label for s in data_samples])
        return dict(loss=nn.functional.cross_entropy(logits, labels))


def write_broken_set(tmp_path, make_video):
    for name in ('good0.mp4', 'good1.mp4', 'good2.mp4'):
        make_video(tmp_path / name, num_frames=12, size=(32, 32))
    (tmp_path / 'corrupt.mp4').write_bytes(
        (tmp_path / 'good0.mp4').read_bytes()[:300])
    lines = [
        'good0.mp4 0', 'corrupt.mp4 1', 'good1.mp4 1', 'missing.mp4 0',
        'good2.mp4 0'
    ]
    (tmp_path / 'list.txt').write_text('\n'.join(lines) + '\n')


def test_broken_files_are_skipped_in_training_and_logged(tmp_path, make_video):
    write_broken_set(tmp_path, make_video)
    runner = Runner(
        model=TinyModel(),
        work_dir=str(tmp_path / 'work'),
        train_dataloader=dict(
            dataset=dict(
                type='VideoDataset',
                ann_file=str(tmp_path / 'list.txt'),
                data_prefix=dict(video=str(tmp_path)),
                pipeline=PIPELINE),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=1,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        default_scope='mvitx')
    runner.train()
    assert runner.iter == 5  # every index yields a sample
    log = open(glob.glob(osp.join(runner.log_dir, '*.log'))[0]).read()
    assert f'Skipped broken file {tmp_path / "corrupt.mp4"}' in log
    assert f'Skipped broken file {tmp_path / "missing.mp4"}' in log
    # each broken file is logged once, with the running count
    assert log.count('Skipped broken file') == 2
    assert '1 broken file(s) skipped so far' in log
    assert '2 broken file(s) skipped so far' in log
    dataset = runner.train_dataloader.dataset
    assert sorted(dataset.broken_indices) == [1, 3]


def test_broken_file_raises_in_test_mode_and_on_request(tmp_path, make_video):
    write_broken_set(tmp_path, make_video)
    common = dict(
        ann_file=str(tmp_path / 'list.txt'),
        data_prefix=dict(video=str(tmp_path)),
        pipeline=PIPELINE)
    test = VideoDataset(test_mode=True, **common)
    assert test[0]['inputs'].shape == (3, 4, 32, 32)
    with pytest.raises(BrokenInputError, match='corrupt.mp4'):
        test[1]
    with pytest.raises(BrokenInputError, match='missing.mp4'):
        test[3]
    strict = VideoDataset(on_error='raise', **common)
    with pytest.raises(BrokenInputError, match='missing.mp4'):
        strict[3]
