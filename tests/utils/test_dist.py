"""``mvitx.utils.dist``: CPU process groups and their teardown."""
import gc
import weakref

import pytest
import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.config import Config
from torch.nn.parallel import DistributedDataParallel

from mvitx.utils import setup_distributed, teardown_distributed
from tests.helpers import free_port


def test_setup_starts_gloo_and_drops_device_ids(monkeypatch):
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(free_port()))
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    monkeypatch.setattr('torch.cuda.is_available', lambda: False)
    cfg = Config(dict(model_wrapper_cfg=dict(find_unused_parameters=True)))
    setup_distributed(cfg, 'pytorch')
    try:
        assert torch_dist.get_backend() == 'gloo'
        assert cfg.launcher == 'pytorch'
        assert cfg.model_wrapper_cfg == dict(
            type='MMDistributedDataParallel',
            find_unused_parameters=True,
            device_ids=None)
    finally:
        teardown_distributed()
    assert not torch_dist.is_initialized()
    with pytest.raises(RuntimeError, match='needs GPUs'):
        setup_distributed(Config(), 'slurm')


def test_teardown_frees_a_ddp_model_in_reference_cycles():
    """A DDP model that only the garbage collector can free (as the
    Runner's) is gone before the group is destroyed, not left to
    interpreter shutdown."""
    torch_dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{free_port()}',
        rank=0,
        world_size=1)
    gc.disable()
    try:
        model = DistributedDataParallel(nn.Linear(2, 2))
        holder = dict(model=model)
        holder['self'] = holder
        alive = weakref.ref(model)
        del model, holder
        assert alive() is not None
        teardown_distributed()
        assert alive() is None
        assert not torch_dist.is_initialized()
    finally:
        gc.enable()
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()
