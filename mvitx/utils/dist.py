"""Distributed set-up that also works on machines without GPUs.

mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` and wraps the
model in DDP with ``device_ids=[LOCAL_RANK]``, both of which fail on a CPU
machine. On such a machine mvitx starts the process group itself with the
gloo backend (mmengine then sees it initialised and skips its own set-up)
and builds DDP without device ids. On GPUs nothing changes: mmengine starts
NCCL as configured.
"""
import gc
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log


def setup_distributed(cfg: Config, launcher: str) -> None:
    """Prepares ``cfg`` and the process group for ``launcher``.

    Args:
        cfg (Config): The config about to be given to ``Runner.from_cfg``;
            ``launcher`` is written into it and, on CPU,
            ``model_wrapper_cfg`` gets ``device_ids=None``.
        launcher (str): ``'none'``, ``'pytorch'`` or ``'slurm'``.
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise RuntimeError(
            f'The {launcher!r} launcher needs GPUs; on a CPU-only machine '
            'use tools/dist_train.sh (torchrun, launcher "pytorch").')
    if not torch_dist.is_initialized():
        timeout = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('timeout')
        kwargs = {} if timeout is None else dict(timeout=timeout)
        torch_dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            **kwargs)
        print_log(
            f'No GPU: started a gloo process group (rank '
            f'{torch_dist.get_rank()} of {torch_dist.get_world_size()}); '
            'DDP runs on CPU.',
            logger='current')
    wrapper = dict(type='MMDistributedDataParallel')
    wrapper.update(cfg.get('model_wrapper_cfg') or {})
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def teardown_distributed() -> None:
    """Destroys the process group before the interpreter exits.

    Call it after dropping the last reference to the Runner. mmengine
    leaves the group to interpreter shutdown, and the Runner's DDP wrapper,
    which holds the group too, sits in reference cycles that only the
    garbage collector frees; torn down that late, gloo's background threads
    can be destroyed while still joinable and abort the process
    (``terminate called without an active exception``) after a run that
    succeeded. Here all ranks finish, the cycles are collected and the
    group is destroyed in the main thread, with the interpreter intact.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        gc.collect()
        torch_dist.destroy_process_group()
