"""The co-training demo (``tools/dist_train.sh configs/cotrain/mvit_xs_demo.py
2``, shortened, on tiny demo data) logs no warning a user would have to
judge: every Python warning and every WARNING log line must be on the
allow-list below, each with the reason it is there."""
import logging
import re

from mmengine.logging import MMLogger

from mvitx.datasets.demo import make_demo_data
from mvitx.utils.setup_env import quiet_library_logs
from tests.helpers import ROOT, dist_train

#: Python warnings (``file:line: XWarning: message``), WARNING lines of
#: mmengine's logger (``- mmengine - WARNING -``) and of the standard
#: logging module (``WARNING:name:``).
WARNING_LINE = re.compile(r'\w*Warning: | - WARNING - |^WARNING:')

#: Warnings the demo may print, and why each is not ours to fix.
#: Warnings a run may show. Empty: mmengine's deprecations of itself are
#: filtered by the tools (mvitx.utils.quiet_library_logs) and everything
#: else is ours to fix.
ALLOWED = []


def unexpected_warnings(log: str) -> list:
    """The warning lines of ``log`` not on :data:`ALLOWED`."""
    return [
        line for line in log.splitlines()
        if WARNING_LINE.search(line) and not any(
            allowed.search(line) for allowed in ALLOWED)
    ]


def test_pattern_catches_warnings():
    log = ('x.py:3: UserWarning: Grad strides do not match\n'
           '11/30 09:45:09 - mmengine - WARNING - The prefix is not set\n'
           'WARNING:torch.distributed.run:Setting OMP_NUM_THREADS\n'
           '11/30 09:45:09 - mmengine - INFO - Iter(train) [1/4]\n'
           '11/30 - mmengine - WARNING - "FileClient" will be deprecated '
           'in future.\n')
    assert len(unexpected_warnings(log)) == 4  # all but the INFO line


def test_quiet_library_logs(capsys):
    logger = MMLogger.get_instance('test_quiet_library_logs')
    quiet_library_logs(logger)
    quiet_library_logs(logger)
    assert len(logger.filters) == 1
    logger.warning('"FileClient" will be deprecated in future. Please use')
    logger.warning('"HardDiskBackend" is the alias of "LocalBackend" and '
                   'the former will be deprecated in future.')
    logger.log(logging.WARNING, 'a warning of ours')
    out = capsys.readouterr().out
    assert 'deprecated' not in out
    assert 'a warning of ours' in out


def test_demo_logs_no_warnings(tmp_path):
    data = tmp_path / 'data'
    make_demo_data(str(data), scale='tiny')
    roots = [
        f'{split}_dataloader.dataset.datasets.demo_{kind}.data_root='
        f'{data}/{folder}' for split in ('train', 'val')
        for kind, folder in (('img', 'imagenet'), ('vid', 'kinetics'))
    ]
    # Both sources train (DDP, alternating) and are validated (metric,
    # checkpoint, visualization hook).
    proc = dist_train(f'{ROOT}/configs/cotrain/mvit_xs_demo.py',
                      tmp_path / 'work', '--cfg-options', *roots,
                      'train_cfg.max_iters=4', 'train_cfg.val_interval=4')
    log = proc.stdout + proc.stderr
    assert 'mean/top1' in log
    assert unexpected_warnings(log) == []
