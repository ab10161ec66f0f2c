"""``tools/train.py`` writes its command-line options into the config."""
import os.path as osp
import sys

import pytest

from mvitx.utils import load_config
from tests.helpers import ROOT, load_tool

CONFIG = osp.join(ROOT, 'configs', 'cotrain', 'mvit_xs_demo.py')


def _merged(monkeypatch, *argv, config=CONFIG):
    tool = load_tool('tools/train.py')
    monkeypatch.setattr(sys, 'argv', ['train.py', config, *argv])
    args = tool.parse_args()
    return tool.merge_args(load_config(config, args.cfg_options), args)


def test_defaults_name_the_work_dir_after_the_config(monkeypatch):
    cfg = _merged(monkeypatch)
    assert cfg.work_dir == osp.join('./work_dirs', 'mvit_xs_demo')
    assert cfg.resume is False and cfg.optim_wrapper.get('type') is None


def test_options(monkeypatch, tmp_path):
    cfg = _merged(monkeypatch, '--work-dir', str(tmp_path), '--amp',
                  '--resume', '--cfg-options', 'train_cfg.max_iters=7',
                  'model.backbone.arch=tiny')
    assert cfg.work_dir == str(tmp_path)
    assert cfg.optim_wrapper.type == 'BF16OptimWrapper'
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.train_cfg.max_iters == 7
    assert cfg.model.backbone.arch == 'tiny'
    cfg = _merged(monkeypatch, '--resume', 'ckpt.pth')
    assert cfg.resume is True and cfg.load_from == 'ckpt.pth'


def test_auto_scale_lr(monkeypatch):
    config = osp.join(ROOT, 'configs', 'cotrain', 'mvit_b_k400.py')
    cfg = _merged(monkeypatch, '--auto-scale-lr', config=config)
    assert cfg.auto_scale_lr.enable is True
    with pytest.raises(KeyError, match='auto_scale_lr'):
        _merged(monkeypatch, '--auto-scale-lr')
