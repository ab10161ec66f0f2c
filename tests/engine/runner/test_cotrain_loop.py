"""Per-source gradient accumulation in ``CoTrainLoop``: ``k`` micro-batches
of a source make the same optimiser step as one batch ``k`` times as big,
in one process and in two gloo processes with DDP."""
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mvitx.registry import HOOKS
from mvitx.utils import load_checkpoint_file, load_config
from tests.helpers import ROOT, dist_train

MAX_ITERS = 4

CONFIG = """
_base_ = ['{root}/configs/_base_/default_runtime.py']
custom_imports = dict(imports=[
    'tests.tools.toy_components', 'tests.engine.runner.test_cotrain_loop'])
model = dict(type='ToyRegressor')
train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(
        type='CoTrainBatchSampler',
        batch_sizes=dict(a={batch_a}, b=3),
        accumulative_counts={accumulate}),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CoTrainDataset',
        datasets=dict(
            a=dict(type='ToyRegressionDataset', length=32),
            b=dict(type='ToyRegressionDataset', length=16))))
train_cfg = dict(type='CoTrainLoop', max_iters={max_iters})
# Plain SGD: the update is the gradient, so a wrong loss scale shows.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01))
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval={max_iters}, save_best=None))
custom_hooks = [dict(type='RecordForwardSizesHook')]
randomness = dict(seed=0, deterministic=True)
"""


@HOOKS.register_module(force=True)
class RecordForwardSizesHook(Hook):
    """Writes the batch size of every model forward in training to
    ``work_dir/sizes_rank<r>.txt``."""

    def before_train(self, runner):
        model = getattr(runner.model, 'module', runner.model)
        path = osp.join(runner.work_dir, f'sizes_rank{runner.rank}.txt')

        def record(module, args, kwargs):
            with open(path, 'a') as f:
                f.write(f'{len(kwargs["x"])}\n')

        model.register_forward_pre_hook(record, with_kwargs=True)


def _config(tmp_path, batch_a, accumulate):
    path = tmp_path / f'toy_{batch_a}_{len(accumulate)}.py'
    path.write_text(
        CONFIG.format(
            root=ROOT,
            batch_a=batch_a,
            accumulate=accumulate,
            max_iters=MAX_ITERS))
    return str(path)


def _sizes(work_dir, rank=0):
    with open(osp.join(work_dir, f'sizes_rank{rank}.txt')) as f:
        return [int(line) for line in f]


def _train_here(config, work_dir):
    cfg = load_config(config)
    cfg.work_dir = str(work_dir)
    Runner.from_cfg(cfg).train()
    return load_checkpoint_file(osp.join(
        work_dir, f'iter_{MAX_ITERS}.pth'))['state_dict']


def _assert_same(got, want):
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=1e-6)


@pytest.mark.parametrize('distributed', [False, True])
def test_micro_batches_make_the_step_of_the_big_batch(tmp_path, distributed):
    big = _config(tmp_path, 8, {})
    micro = _config(tmp_path, 4, dict(a=2))
    if distributed:
        for name, config in (('big', big), ('micro', micro)):
            dist_train(config, tmp_path / name)
        want, got = (
            load_checkpoint_file(
                osp.join(tmp_path, name,
                         f'iter_{MAX_ITERS}.pth'))['state_dict']
            for name in ('big', 'micro'))
    else:
        want = _train_here(big, tmp_path / 'big')
        got = _train_here(micro, tmp_path / 'micro')
    _assert_same(got, want)
    big_sizes = _sizes(tmp_path / 'big')
    # Source a's steps ran as two forwards of 4, source b's as one of 3.
    assert 8 in big_sizes and 3 in big_sizes
    expected = []
    for size in big_sizes:
        expected += [4, 4] if size == 8 else [size]
    assert _sizes(tmp_path / 'micro') == expected
