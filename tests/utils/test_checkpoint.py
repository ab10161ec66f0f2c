import os

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import _load_checkpoint

from mvitx.utils import (CheckpointError, check_resumable,
                         install_safe_checkpoint_loader, load_checkpoint_file)


def _mmengine_like_checkpoint():
    hub = MessageHub.get_instance('test_checkpoint')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/lr', 0.1)
    hub.update_info('iter', 7)
    return dict(
        meta=dict(seed=np.int64(3), iter=7, epoch=0, hist=np.arange(3.)),
        message_hub=hub.state_dict(),
        state_dict=dict(weight=torch.arange(4.)))


class _RunsCode:

    def __reduce__(self):
        return os.system, ('echo checkpoint ran code', )


def test_loads_mmengine_checkpoint_with_weights_only(tmp_path):
    path = tmp_path / 'iter_7.pth'
    torch.save(_mmengine_like_checkpoint(), path)
    checkpoint = load_checkpoint_file(str(path))
    assert checkpoint['meta']['iter'] == 7
    assert torch.equal(checkpoint['state_dict']['weight'], torch.arange(4.))
    buffer = checkpoint['message_hub']['log_scalars']['train/loss']
    assert buffer.current() == 0.5


def test_mmengine_loader_uses_it(tmp_path):
    install_safe_checkpoint_loader()
    path = tmp_path / 'iter_7.pth'
    torch.save(_mmengine_like_checkpoint(), path)
    assert _load_checkpoint(str(path))['meta']['iter'] == 7


def test_refuses_code(tmp_path, capfd):
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, payload=_RunsCode()), path)
    with pytest.raises(CheckpointError, match='evil.pth.*refused'):
        load_checkpoint_file(str(path))
    assert 'ran code' not in capfd.readouterr().out


class _GetAttr:

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


def test_refuses_getattr_gadgets(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save(dict(x=_GetAttr()), path)
    with pytest.raises(CheckpointError, match='refused'):
        load_checkpoint_file(str(path))


@pytest.mark.parametrize('damage', ['truncate', 'garbage', 'empty'])
def test_damaged_file_names_file(tmp_path, damage):
    good = tmp_path / 'good.pth'
    torch.save(_mmengine_like_checkpoint(), good)
    data = good.read_bytes()
    bad = tmp_path / 'bad.pth'
    bad.write_bytes({
        'truncate': data[:len(data) // 2],
        'garbage': b'not a checkpoint' * 10,
        'empty': b''
    }[damage])
    with pytest.raises(CheckpointError, match=r'bad\.pth.*truncated'):
        load_checkpoint_file(str(bad))


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match='nope.pth does not exist'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))


def test_check_resumable_needs_optimizer_and_scheduler_state(tmp_path):
    full = dict(
        _mmengine_like_checkpoint(),
        optimizer=dict(state={}, param_groups=[dict(lr=0.1, params=[0])]),
        param_schedulers=[dict(last_step=7)])
    path = tmp_path / 'iter_7.pth'
    torch.save(full, path)
    check_resumable(str(path))
    # What save_best writes: weights, meta and message hub only.
    best = tmp_path / 'best_acc_iter_7.pth'
    torch.save(_mmengine_like_checkpoint(), best)
    with pytest.raises(
            CheckpointError,
            match=f'Cannot resume from {best}: it has no '
            'optimizer or param_schedulers state'):
        check_resumable(str(best))
    # A run without schedulers needs the optimizer only.
    no_scheduler = tmp_path / 'iter_8.pth'
    torch.save({
        k: v
        for k, v in full.items() if k != 'param_schedulers'
    }, no_scheduler)
    check_resumable(str(no_scheduler), param_schedulers=False)
    with pytest.raises(CheckpointError, match='no param_schedulers state'):
        check_resumable(str(no_scheduler))
    with pytest.raises(CheckpointError, match='does not exist'):
        check_resumable(str(tmp_path / 'none.pth'))
