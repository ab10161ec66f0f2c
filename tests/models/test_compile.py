"""``torch.compile`` on mvitx models: the co-training demo's backbone and
recognizer compiled with the CPU inductor compute what they compute eagerly,
and ``compile=...`` in a config makes the runner of ``tools/train.py``
train the demo config through a compiled backbone.

Inductor on CPU builds C++ kernels (it needs ``g++``); the first call of each
compiled model takes a while, later runs read inductor's on-disk cache.
``dynamic=False``: an image ``(N, C, H, W)`` and a clip ``(N, C, T, H, W)``
are two static graphs (see docs/benchmarks.md)."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mvitx.datasets.demo import make_demo_data
from mvitx.engine.runner import build_runner, compile_kwargs
from mvitx.registry import MODELS
from mvitx.structures import ActionDataSample
from mvitx.utils import load_config, register_all_modules
from tests.helpers import ROOT

CONFIG = osp.join(ROOT, 'configs', 'cotrain', 'mvit_xs_demo.py')


@pytest.fixture(scope='module')
def recognizer():
    """The demo config's recognizer (xs MViT, a head per source), eval."""
    register_all_modules()
    torch.manual_seed(0)
    return MODELS.build(load_config(CONFIG).model).eval()


def _assert_close(got, want):
    """Equal nested tuples of tensors within float32 tolerance."""
    if isinstance(want, torch.Tensor):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        return
    assert type(got) is type(want) and len(got) == len(want)
    for g, w in zip(got, want):
        _assert_close(g, w)


def test_backbone_compiled_equals_eager(recognizer):
    backbone = recognizer.backbone
    compiled = torch.compile(backbone, backend='inductor', dynamic=False)
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        _assert_close(compiled(x), backbone(x))


def test_recognizer_compiled_equals_eager(recognizer):
    compiled = torch.compile(recognizer, backend='inductor', dynamic=False)
    x = torch.randn(2, 3, 4, 32, 32)
    samples = [
        ActionDataSample(metainfo=dict(source='demo_vid')) for _ in range(2)
    ]
    with torch.no_grad():
        want = recognizer(x, samples, mode='tensor')
        got = compiled(x, samples, mode='tensor')
    assert want.shape == (2, 10)
    _assert_close(got, want)


def test_runner_trains_the_demo_config_compiled(tmp_path):
    """``compile`` in the config: two steps, an image batch and a clip
    batch, through the compiled backbone (the ``aot_eager`` backend: dynamo
    and autograd tracing without inductor's C++ build, which the tests
    above cover)."""
    data = tmp_path / 'data'
    make_demo_data(str(data), scale='tiny')
    register_all_modules()
    options = {
        'compile': dict(backend='aot_eager', dynamic=False),
        'max_iters': 2,
        'warmup_iters': 1,
        'val_interval': 100,
        'work_dir': str(tmp_path / 'work'),
        'train_dataloader.batch_sampler.batch_sizes':
        dict(demo_img=4, demo_vid=2),
        'default_hooks.logger.interval': 1,
        'custom_hooks': [],
    }
    for split in ('train', 'val'):
        loader = f'{split}_dataloader'
        options[f'{loader}.num_workers'] = 0
        options[f'{loader}.persistent_workers'] = False
        for source, folder in (('demo_img', 'imagenet'), ('demo_vid',
                                                          'kinetics')):
            key = f'{loader}.dataset.datasets.{source}.data_root'
            options[key] = str(data / folder)
    cfg = load_config(CONFIG, options)
    runner = build_runner(cfg)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    # The backbone was compiled in place, nothing else.
    assert runner.model.backbone._compiled_call_impl is not None
    assert not hasattr(runner.model.train_step, '_torchdynamo_orig_callable')
    scalars = runner.message_hub.log_scalars
    for source in ('demo_img', 'demo_vid'):
        assert math.isfinite(scalars[f'train/loss/{source}'].current())
    after = runner.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert osp.exists(osp.join(cfg.work_dir, 'iter_2.pth'))


def test_compile_kwargs():
    assert compile_kwargs(None) is None and compile_kwargs(False) is None
    assert compile_kwargs(True) == dict(dynamic=False)
    assert compile_kwargs(dict(mode='max-autotune', dynamic=None)) == dict(
        mode='max-autotune', dynamic=None)
    with pytest.raises(TypeError, match='compile'):
        compile_kwargs('inductor')


def test_compile_with_a_strategy_is_refused():
    cfg = Config(dict(strategy=dict(type='FSDPStrategy'), compile=True))
    with pytest.raises(ValueError, match='`compile` and `strategy`'):
        build_runner(cfg)
