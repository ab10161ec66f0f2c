"""The plugin trains through ``custom_imports`` with ``mvitx/`` untouched."""
import os
import os.path as osp
import subprocess
import sys

import torch

from mvitx.utils.checkpoint import load_checkpoint_file

ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
CONFIG = 'projects/example_plugin/configs/mvit_xs_demo_video_gate.py'


def test_plugin_neck_trains_from_its_config(tmp_path):
    data = tmp_path / 'demo'
    subprocess.run([
        sys.executable, 'tools/data/make_demo_data.py', '--out',
        str(data), '--scale', 'tiny'
    ],
                   cwd=ROOT,
                   check=True,
                   capture_output=True)
    kinetics = data / 'kinetics'
    options = [
        'train_cfg.max_iters=2', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.save_best=None', 'param_scheduler=[]',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        f'train_dataloader.dataset.datasets.demo_vid.data_root={kinetics}',
        f'val_dataloader.dataset.datasets.demo_vid.data_root={kinetics}'
    ]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *options
    ],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = load_checkpoint_file(str(tmp_path / 'work' /
                                     'iter_2.pth'))['state_dict']
    # The gate starts at zero (identity neck) and the task loss moved it.
    assert 'neck.alpha' in state
    assert state['neck.alpha'].abs() > 0
    assert any(k.startswith('neck.gate.') for k in state)
    assert torch.isfinite(state['heads.demo_vid.fc.weight']).all()
