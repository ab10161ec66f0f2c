"""The sharded (FSDP) path: the strategy ``tools/train.py --strategy fsdp``
writes, its wrap policy on a real MViT, and the launch (on GPUs it trains;
on a CPU-only machine it stops with a clear message)."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import FUNCTIONS

from mvitx.engine.runner import build_runner, fsdp_strategy
from mvitx.models.backbones import MViT
from mvitx.utils import load_config
from tests.helpers import ROOT, free_port, load_tool
from tests.tools.test_dist_train import CONFIG


@pytest.fixture
def toy_config(tmp_path):
    path = tmp_path / 'toy.py'
    path.write_text(CONFIG.format(root=ROOT))
    return str(path)


def test_fsdp_strategy_shards_every_mvit_block():
    strategy = fsdp_strategy(Config())
    assert strategy['type'] == 'FSDPStrategy'
    wrapper = strategy['model_wrapper']
    assert wrapper['type'] == 'MMFullyShardedDataParallel'
    assert wrapper['use_orig_params'] and wrapper['sync_module_states']
    policy = dict(wrapper['auto_wrap_policy'])
    # The look-up mmengine's FSDP wrapper does: its root FUNCTIONS registry.
    func = FUNCTIONS.get(policy.pop('type'))
    backbone = MViT(arch='xs')
    wrapped = [m for m in backbone.modules() if func(m, False, 0, **policy)]
    assert wrapped == list(backbone.blocks)
    assert all(func(m, True, 0, **policy) for m in backbone.modules())


def test_a_strategy_in_the_config_is_kept():
    own = dict(type='FSDPStrategy', model_wrapper=dict(cpu_offload=True))
    assert fsdp_strategy(Config(dict(strategy=own))) == own


def test_train_tool_writes_the_strategy(toy_config, monkeypatch):
    train = load_tool('tools/train.py')
    monkeypatch.setattr(sys, 'argv',
                        ['train.py', toy_config, '--strategy', 'fsdp'])
    cfg = train.merge_args(load_config(toy_config), train.parse_args())
    assert cfg.strategy == fsdp_strategy(Config())


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CPU-only check')
def test_fsdp_without_gpus_stops_with_a_clear_message():
    cfg = Config(dict(strategy=fsdp_strategy(Config())))
    with pytest.raises(RuntimeError, match='FSDP needs GPUs'):
        build_runner(cfg)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a GPU')
def test_fsdp_trains_the_toy_model_on_gpus(toy_config, tmp_path):
    procs = str(min(2, torch.cuda.device_count()))
    cmd = [
        'bash',
        osp.join(ROOT, 'tools', 'dist_train.sh'), toy_config, procs,
        '--strategy', 'fsdp', '--work-dir',
        str(tmp_path)
    ]
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()))
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert osp.isfile(tmp_path / 'iter_8.pth')
