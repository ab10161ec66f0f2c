"""A two-node launch on one machine: ``tools/dist_train.sh`` started twice
with ``NNODES=2``, ``NODE_RANK=0``/``1`` and the same ``MASTER_ADDR`` and
``PORT`` (one process per node, gloo), as two hosts would run it. Both
nodes train together and end with the same weights."""
import os
import os.path as osp
import subprocess
import sys

import torch
from mmengine.hooks import Hook

from mvitx.registry import HOOKS
from tests.helpers import ROOT, free_port

MAX_ITERS = 6

CONFIG = """
_base_ = ['{root}/configs/_base_/default_runtime.py']
custom_imports = dict(
    imports=['tests.tools.toy_components', 'tests.tools.test_multinode'])
model = dict(type='ToyRegressor')
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ToyRegressionDataset', length=64))
train_cfg = dict(type='IterBasedTrainLoop', max_iters={max_iters})
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval={max_iters}, save_best=None))
custom_hooks = [dict(type='SaveRankWeightsHook')]
randomness = dict(seed=0, deterministic=True)
"""


@HOOKS.register_module(force=True)
class SaveRankWeightsHook(Hook):
    """Saves every rank's final weights as ``work_dir/rank<r>.pth``: with
    mmengine only rank 0 writes checkpoints."""

    def after_train(self, runner):
        model = getattr(runner.model, 'module', runner.model)
        torch.save(model.state_dict(),
                   osp.join(runner.work_dir, f'rank{runner.rank}.pth'))


def test_two_nodes_train_to_the_same_weights(tmp_path):
    config = tmp_path / 'toy.py'
    config.write_text(CONFIG.format(root=ROOT, max_iters=MAX_ITERS))
    port = str(free_port())
    nodes = []
    for node in range(2):
        env = dict(
            os.environ,
            PYTHON=sys.executable,
            NNODES='2',
            NODE_RANK=str(node),
            MASTER_ADDR='127.0.0.1',
            PORT=port,
            OMP_NUM_THREADS='1')
        env.pop('CUDA_VISIBLE_DEVICES', None)
        # Each node has its own work dir, as on separate hosts.
        cmd = [
            'bash',
            osp.join(ROOT, 'tools', 'dist_train.sh'),
            str(config), '1', '--work-dir',
            str(tmp_path / f'node{node}')
        ]
        nodes.append(
            subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True))
    logs = [node.communicate(timeout=600)[0] for node in nodes]
    for node, log in zip(nodes, logs):
        assert node.returncode == 0, log[-3000:]
    assert 'started a gloo process group (rank 0 of 2)' in logs[0]
    assert f'Iter(train) [{MAX_ITERS}/{MAX_ITERS}]' in logs[0]
    assert osp.isfile(tmp_path / 'node0' / f'iter_{MAX_ITERS}.pth')
    rank0 = torch.load(tmp_path / 'node0' / 'rank0.pth', weights_only=True)
    # Node 1 ran rank 1 (only rank 0 logs; the hook names the rank).
    rank1 = torch.load(tmp_path / 'node1' / 'rank1.pth', weights_only=True)
    assert rank0.keys() == rank1.keys() == {'fc.weight', 'fc.bias'}
    for key in rank0:
        torch.testing.assert_close(rank1[key], rank0[key], rtol=0, atol=0)
