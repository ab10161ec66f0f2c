"""Sharded training (FSDP) through mmengine's ``FlexibleRunner``, for models
whose weights, gradients and optimiser state do not fit one GPU."""
from typing import Sequence, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.runner import FlexibleRunner, Runner

from mvitx.registry import FUNCTIONS
from .compile_runner import BackboneCompileRunner, compile_kwargs

#: The module FSDP shards one by one when a config names none.
DEFAULT_WRAP = ('MultiScaleBlock', )


@FUNCTIONS.register_module()
def wrap_modules_by_name(module: nn.Module,
                         recurse: bool,
                         nonwrapped_numel: int,
                         names: Sequence[str] = DEFAULT_WRAP) -> bool:
    """An FSDP ``auto_wrap_policy``: every module whose class is named in
    ``names`` becomes its own shard unit (gathered for its forward and
    backward only); the rest goes into the root unit.

    Named by class name, so a config can give it as
    ``dict(type='mvitx.wrap_modules_by_name', names=[...])``.

    Args:
        module (nn.Module): The module FSDP asks about.
        recurse (bool): Whether FSDP asks to descend into its children
            (always yes) or to wrap it.
        nonwrapped_numel (int): Parameters not yet wrapped (unused).
        names (Sequence[str]): Class names to wrap. Defaults to
            ``('MultiScaleBlock',)``, the MViT block.

    Returns:
        bool: The answer.
    """
    return recurse or type(module).__name__ in names


def fsdp_strategy(cfg: Config) -> dict:
    """The ``strategy`` of ``FlexibleRunner`` that shards the model with
    FSDP, each MViT block a unit, unless ``cfg`` already has one.

    Args:
        cfg (Config): The training config.

    Returns:
        dict: ``cfg.strategy`` or an ``FSDPStrategy`` config.
    """
    if cfg.get('strategy'):
        return cfg.strategy
    wrapper = dict(
        type='MMFullyShardedDataParallel',
        # mmengine looks the policy up in its root FUNCTIONS registry,
        # which finds mvitx's only by the scope prefix.
        auto_wrap_policy=dict(
            type='mvitx.wrap_modules_by_name', names=list(DEFAULT_WRAP)),
        # Per-parameter names and groups survive, so paramwise_cfg and
        # the layer-decay constructor work as with DDP.
        use_orig_params=True,
        # Ranks start from rank 0's weights, as DDP does.
        sync_module_states=True)
    return dict(
        type='FSDPStrategy',
        model_wrapper=wrapper,
        # One checkpoint with the whole model, readable without FSDP.
        state_dict_cfg='full')


def build_runner(cfg: Config) -> Union[Runner, FlexibleRunner]:
    """A :class:`BackboneCompileRunner` (mmengine's ``Runner`` whose
    ``compile`` compiles the backbone), or mmengine's ``FlexibleRunner``
    when ``cfg`` has a ``strategy`` (e.g. from :func:`fsdp_strategy`).

    Args:
        cfg (Config): The training config.

    Raises:
        RuntimeError: FSDP asked for on a machine without GPUs (PyTorch's
            FSDP refuses to run on CPU only).
        ValueError: ``compile`` together with a ``strategy``
            (``FlexibleRunner`` would compile the whole ``train_step``).
    """
    strategy = cfg.get('strategy')
    if strategy:
        if compile_kwargs(cfg.get('compile')) is not None:
            raise ValueError(
                'config keys `compile` and `strategy` cannot be combined: '
                'mvitx compiles the backbone with the DDP runner only; '
                'drop `compile` or train without --strategy fsdp')
        if (strategy.get('type') == 'FSDPStrategy'
                and not torch.cuda.is_available()):
            raise RuntimeError(
                'FSDP needs GPUs (PyTorch refuses CPU-only FSDP); train '
                'without --strategy fsdp / `strategy` on this machine')
        return FlexibleRunner.from_cfg(cfg)
    return BackboneCompileRunner.from_cfg(cfg)
