"""EMA of the weights (mmengine's ``EMAHook``, as in
``configs/cotrain/mvit_xs_demo_ema.py``) with the co-training recognizer:
validation runs the averaged weights, and a resumed run continues the
average to the same weights as an uninterrupted one."""
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mvitx.registry import HOOKS
from mvitx.utils import load_checkpoint_file, load_config, register_all_modules
from tests.helpers import ROOT

MAX_ITERS, MOMENTUM = 4, 0.25

CONFIG = """
_base_ = ['{root}/configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.engine.runner.test_ema'])
images = dict(
    type='ImageDataset',
    source='img',
    ann_file='',
    data_root={data!r},
    data_prefix=dict(img_path='images'),
    pipeline=[
        dict(type='LoadImage'),
        dict(type='Resize', scale=(16, 16)),
        dict(type='PackActionInputs'),
    ])
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='CoTrainBatchSampler'),
    dataset=dict(type='CoTrainDataset', datasets=dict(img=images)))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CoTrainDataset', datasets=dict(img=images)))
val_evaluator = dict(type='AccMetric')
model = dict(
    type='CoTrainRecognizer',
    data_preprocessor=dict(type='ActionDataPreprocessor'),
    backbone=dict(type='MViT', arch='xs'),
    heads=dict(img=dict(type='ClsHead', num_classes=2, in_channels=64)))
train_cfg = dict(
    type='CoTrainLoop', max_iters={max_iters}, val_interval={max_iters})
val_cfg = dict(type='ValLoop')
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-2))
default_hooks = dict(checkpoint=dict(interval=2, save_best=None))
custom_hooks = [
    dict(type='EMAHook', momentum={momentum}, priority='ABOVE_NORMAL'),
    dict(type='RecordWeightsHook'),
]
randomness = dict(seed=0, deterministic=True)
"""


@HOOKS.register_module(force=True)
class RecordWeightsHook(Hook):
    """Saves the weights after every training step and those the first
    validation batch runs with under ``work_dir/weights/``."""

    def _save(self, runner, name):
        folder = osp.join(runner.work_dir, 'weights')
        os.makedirs(folder, exist_ok=True)
        model = getattr(runner.model, 'module', runner.model)
        torch.save(model.state_dict(), osp.join(folder, f'{name}.pth'))

    def after_train_iter(self, runner, batch_idx, **kwargs):
        self._save(runner, f'train_{runner.iter + 1}')

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        if batch_idx == 0:
            self._save(runner, 'val')


def _weights(work_dir, name):
    return torch.load(
        osp.join(work_dir, 'weights', f'{name}.pth'), weights_only=True)


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    root = tmp_path_factory.mktemp('data')
    rng = np.random.default_rng(0)
    for label in range(2):
        os.makedirs(root / 'images' / f'class{label}')
        for i in range(4):
            img = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
            cv2.imwrite(
                str(root / 'images' / f'class{label}' / f'{i}.JPEG'), img)
    path = tmp_path_factory.mktemp('cfg') / 'ema.py'
    path.write_text(
        CONFIG.format(
            root=ROOT, data=str(root), max_iters=MAX_ITERS, momentum=MOMENTUM))
    return str(path)


def _train(config, work_dir, resume=None):
    # As tools/train.py: installs the checkpoint loader mmengine resumes with.
    register_all_modules(init_default_scope=False)
    cfg = load_config(config)
    cfg.work_dir = str(work_dir)
    if resume:
        cfg.resume, cfg.load_from = True, resume
    Runner.from_cfg(cfg).train()


@pytest.fixture(scope='module')
def uninterrupted(config, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('full')
    _train(config, work_dir)
    return work_dir


def test_validation_runs_the_averaged_weights(uninterrupted):
    steps = [
        _weights(uninterrupted, f'train_{i}') for i in range(1, MAX_ITERS + 1)
    ]
    evaluated = _weights(uninterrupted, 'val')
    for key, value in evaluated.items():
        if not value.is_floating_point():
            continue
        # mmengine's ExponentialMovingAverage starts from the first step.
        average = steps[0][key]
        for step in steps[1:]:
            average = (1 - MOMENTUM) * average + MOMENTUM * step[key]
        torch.testing.assert_close(value, average, rtol=0, atol=1e-6)
    assert not torch.allclose(evaluated['heads.img.fc.weight'],
                              steps[-1]['heads.img.fc.weight'])


def test_resume_restores_the_average(config, uninterrupted, tmp_path):
    shutil.copy(osp.join(uninterrupted, 'iter_2.pth'), tmp_path)
    _train(config, tmp_path, resume=str(tmp_path / 'iter_2.pth'))
    want, got = (
        load_checkpoint_file(osp.join(d, f'iter_{MAX_ITERS}.pth'))
        for d in (uninterrupted, tmp_path))
    # `state_dict` holds the averaged weights, `ema_state_dict` the raw.
    for field in ('state_dict', 'ema_state_dict'):
        assert got[field].keys() == want[field].keys()
        for key in want[field]:
            torch.testing.assert_close(
                got[field][key], want[field][key], rtol=0, atol=1e-6)
