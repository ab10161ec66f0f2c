"""Co-training with ``tools/dist_train.sh``: two gloo processes on CPU read
real JPEGs and mp4 clips through the real datasets and pipelines, agree on
the source of every step, log per-source losses to TensorBoard, and resume
mid-epoch to the same final weights as an uninterrupted run."""
import glob
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from tensorboard.backend.event_processing.event_accumulator import \
    EventAccumulator

from mvitx.registry import HOOKS
from mvitx.utils import load_checkpoint_file
from tests.helpers import ROOT, dist_train

MAX_ITERS = 8

CONFIG = """
_base_ = ['{root}/configs/_base_/default_runtime.py']
custom_imports = dict(
    imports=['tests.test_cotrain_dist', 'tests.tools.toy_components'])
# Real JPEGs and mp4 clips through the real datasets and pipelines; no
# random augmentation, so a resumed run can repeat the uninterrupted one
# (mmengine re-seeds, it does not restore, the global RNGs on resume).
data_root = {data!r}
image_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(16, 16)),
    dict(type='PackActionInputs'),
]
video_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=2, frame_interval=2, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(16, 16)),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(
        type='CoTrainBatchSampler',
        strategy={strategy!r},
        batch_sizes=dict(img=3, vid=2)),
    dataset=dict(
        type='CoTrainDataset',
        datasets=dict(
            img=dict(
                type='ImageDataset',
                source='img',
                ann_file='',
                data_root=data_root,
                data_prefix=dict(img_path='images'),
                pipeline=image_pipeline),
            vid=dict(
                type='VideoDataset',
                source='vid',
                ann_file=data_root + '/videos.txt',
                data_prefix=dict(video=data_root + '/videos'),
                pipeline=video_pipeline))))
model = dict(
    type='CoTrainRecognizer',
    data_preprocessor=dict(type='ActionDataPreprocessor'),
    backbone=dict(type='MViT', arch='xs'),
    heads=dict(
        img=dict(type='ClsHead', num_classes=2, in_channels=64),
        vid=dict(type='ClsHead', num_classes=2, in_channels=64)))
# An alternating step trains one head; DDP must not wait for the other.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
train_cfg = dict(type='CoTrainLoop', max_iters={max_iters})
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-2))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max={max_iters}, by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=3, save_best=None))
custom_hooks = [dict(type='RecordSourcesHook')]
randomness = dict(seed=1, deterministic=True)
"""


@HOOKS.register_module(force=True)
class RecordSourcesHook(Hook):
    """Appends ``iter sources`` of every training batch to
    ``work_dir/sources_rank<r>.txt``."""

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        sources = sorted(
            {s.metainfo['source']
             for s in data_batch['data_samples']})
        with open(
                osp.join(runner.work_dir, f'sources_rank{runner.rank}.txt'),
                'a') as f:
            f.write(f'{runner.iter} {",".join(sources)}\n')


def _write_data(root):
    rng = np.random.default_rng(0)
    for label, colour in enumerate([(0, 0, 255), (0, 255, 0)]):
        folder = osp.join(root, 'images', f'class{label}')
        os.makedirs(folder)
        for i in range(5):
            img = rng.integers(0, 60, (24, 24, 3), dtype=np.uint8)
            cv2.circle(img, (12, 12), 4 + i, colour, -1)
            cv2.imwrite(osp.join(folder, f'{i}.JPEG'), img)
    os.makedirs(osp.join(root, 'videos'))
    lines = []
    for label in range(2):
        for i in range(3):
            name = f'v{label}_{i}.mp4'
            writer = cv2.VideoWriter(
                osp.join(root, 'videos', name),
                cv2.VideoWriter_fourcc(*'mp4v'), 8, (32, 32))
            for t in range(6):
                frame = np.full((32, 32, 3), 30, np.uint8)
                x = 3 + 4 * t if label == 0 else 24 - 4 * t
                cv2.rectangle(frame, (x, 8), (x + 4, 14), (255, 255, 255), -1)
                writer.write(frame)
            writer.release()
            lines.append(f'{name} {label}')
    with open(osp.join(root, 'videos.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


def _sources(work_dir, rank):
    with open(osp.join(work_dir, f'sources_rank{rank}.txt')) as f:
        return dict(line.split() for line in f)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('data'))
    _write_data(root)
    return root


def _config(tmp_path_factory, data_root, strategy):
    path = tmp_path_factory.mktemp('cfg') / f'cotrain_{strategy}.py'
    path.write_text(
        CONFIG.format(
            root=ROOT, data=data_root, strategy=strategy, max_iters=MAX_ITERS))
    return str(path)


@pytest.fixture(scope='module', params=['alternating', 'joint'])
def run(request, tmp_path_factory, data_root):
    config = _config(tmp_path_factory, data_root, request.param)
    work_dir = tmp_path_factory.mktemp(f'work_{request.param}')
    dist_train(config, work_dir)
    return request.param, config, work_dir


def test_every_rank_uses_the_same_sources_at_each_step(run):
    strategy, _, work_dir = run
    rank0, rank1 = _sources(work_dir, 0), _sources(work_dir, 1)
    assert list(rank0) == [str(i) for i in range(MAX_ITERS)]
    assert rank0 == rank1
    if strategy == 'joint':
        assert set(rank0.values()) == {'img,vid'}
    else:
        assert set(rank0.values()) == {'img', 'vid'}


def test_per_source_losses_are_in_tensorboard(run):
    strategy, _, work_dir = run
    events = glob.glob(
        osp.join(work_dir, '*', 'vis_data', 'events.out.tfevents.*'))
    assert len(events) == 1
    acc = EventAccumulator(events[0])
    acc.Reload()
    tags = acc.Tags()['scalars']
    assert {'loss', 'loss/img', 'loss/vid'} <= set(tags)
    assert len(acc.Scalars('loss')) == MAX_ITERS
    if strategy == 'joint':
        total = [e.value for e in acc.Scalars('loss')]
        parts = [
            a.value + b.value
            for a, b in zip(acc.Scalars('loss/img'), acc.Scalars('loss/vid'))
        ]
        np.testing.assert_allclose(total, parts, rtol=1e-4)


def test_mid_epoch_resume_equals_the_uninterrupted_run(run, tmp_path):
    strategy, config, work_dir = run
    crashing = tmp_path / 'crashing.py'
    crashing.write_text(f'_base_ = [{config!r}]\n'
                        'custom_hooks = [dict(type="RecordSourcesHook"), '
                        'dict(type="CrashAtIterHook", crash_iter=5)]\n')
    crashed = dist_train(str(crashing), tmp_path, check=False)
    assert 'crash at iteration 5' in crashed.stdout + crashed.stderr
    assert not osp.exists(tmp_path / 'iter_6.pth')
    resumed = dist_train(config, tmp_path, '--resume')
    log = resumed.stdout + resumed.stderr
    assert 'resumed epoch: 0, iter: 3' in log
    assert 'Batch sampler seeks to step 3' in log
    # Steps 3 and 4 ran twice; every step saw the same sources both times.
    assert _sources(tmp_path, 0) == _sources(work_dir, 0)
    want = load_checkpoint_file(osp.join(
        work_dir, f'iter_{MAX_ITERS}.pth'))['state_dict']
    got = load_checkpoint_file(osp.join(tmp_path,
                                        f'iter_{MAX_ITERS}.pth'))['state_dict']
    assert want.keys() == got.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)
