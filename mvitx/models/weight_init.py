"""Checkpoint weights into models: the state dict inside a checkpoint,
loading what fits with a report of what did not, and
:class:`PretrainedParts`, which carries whole parts (backbone, neck) of one
model into another."""
import logging
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log

from mvitx.registry import WEIGHT_INITIALIZERS
from mvitx.utils.checkpoint import load_checkpoint_file

StateDict = Dict[str, torch.Tensor]


def unwrap_checkpoint(checkpoint: dict) -> StateDict:
    """The state dict inside a checkpoint (``state_dict``, ``model_state``
    (PySlowFast), ``model`` or ``module`` wrappers)."""
    for key in ('state_dict', 'model_state', 'model', 'module'):
        if isinstance(checkpoint, dict) and key in checkpoint and isinstance(
                checkpoint[key], dict):
            return checkpoint[key]
    return checkpoint


class LoadReport(NamedTuple):
    """What :func:`load_matching` did not load.

    Attributes:
        missing (list[str]): Model weights absent from the state dict.
        unexpected (list[str]): State-dict entries the model does not have.
        mismatched (list[tuple]): ``(key, checkpoint shape, model shape)``
            of the entries skipped because their shapes differ.
    """
    missing: List[str]
    unexpected: List[str]
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]]


def load_matching(
        module: nn.Module,
        state_dict: StateDict,
        name: str,
        logger: Union[logging.Logger, str] = 'current') -> LoadReport:
    """Loads the entries of ``state_dict`` whose names and shapes match
    ``module``'s; every other weight keeps its value.

    What did not load is logged at WARNING, one line per kind: missing
    weights, unexpected entries, and each shape mismatch with both shapes;
    a complete load is logged at INFO.

    Args:
        module (nn.Module): The module to fill.
        state_dict (dict[str, Tensor]): Weights named as in ``module``.
        name (str): What is loaded from where, for the log (e.g.
            ``'neck from ckpt.pth'``).
        logger (logging.Logger | str): Logger or mmengine logger name.
            Defaults to ``'current'``.

    Returns:
        LoadReport: The weights that were not loaded.
    """
    current = module.state_dict()
    mismatched = [(key, tuple(value.shape), tuple(current[key].shape))
                  for key, value in state_dict.items()
                  if key in current and value.shape != current[key].shape]
    skipped = {key for key, _, _ in mismatched}
    missing, unexpected = module.load_state_dict(
        OrderedDict((k, v) for k, v in state_dict.items() if k not in skipped),
        strict=False)
    report = LoadReport([k for k in missing if k not in skipped],
                        list(unexpected), mismatched)
    if report.missing:
        print_log(
            f'{name}: {len(report.missing)} weight(s) not in the checkpoint '
            f'keep their initialisation: {report.missing}',
            logger=logger,
            level=logging.WARNING)
    if report.unexpected:
        print_log(
            f'{name}: {len(report.unexpected)} checkpoint weight(s) the '
            f'model does not have were ignored: {report.unexpected}',
            logger=logger,
            level=logging.WARNING)
    for key, ckpt_shape, model_shape in mismatched:
        print_log(
            f'{name}: skipped {key}: checkpoint shape {ckpt_shape}, model '
            f'shape {model_shape}',
            logger=logger,
            level=logging.WARNING)
    if not any(report):
        print_log(
            f'{name}: loaded all {len(current)} weights',
            logger=logger,
            level=logging.INFO)
    return report


@WEIGHT_INITIALIZERS.register_module()
class PretrainedParts:
    """Loads named parts of a model (``model.backbone``, ``model.neck``,
    ...) from one checkpoint: part ``p`` takes the checkpoint's ``p.*``
    weights.

    With a checkpoint of a Kinetics recognizer of this repository
    (``state_dict`` with ``backbone.``, ``neck.`` and ``heads.`` weights) a
    detector takes the backbone and the top-down neck; the recognizer's
    heads are left out (named at INFO). A checkpoint without any
    ``backbone.`` weight is a bare backbone state dict (e.g. an official
    torchvision, timm or PySlowFast file): the backbone takes all of it and
    the other parts keep their initialisation. A part with a
    ``checkpoint_filter(state_dict)`` method gets its weights through it
    (:meth:`~mvitx.models.backbones.MViT.checkpoint_filter` converts the
    official formats, inflates image weights and resizes position tables).

    The file is read with ``torch.load(weights_only=True)`` through
    :func:`mvitx.utils.load_checkpoint_file`. What does not load is logged
    at WARNING (:func:`load_matching`): a part the checkpoint lacks, with
    the weights that keep their initialisation; missing and unexpected
    weights; shape mismatches, skipped and named with both shapes.

    :class:`~mvitx.models.BaseActionModel` runs it after the modules' own
    initialisation (its ``init_cfg``), so the loaded weights are final.

    Args:
        checkpoint (str): Local checkpoint path.
        parts (Sequence[str]): Names of the model's submodules to load.
            Defaults to ``('backbone', 'neck')``.

    Examples:
        >>> model = dict(
        ...     type='AVADetector',
        ...     backbone=dict(type='MViT', arch='small'),
        ...     neck=dict(type='TopDownModulation', ...),
        ...     roi_head=dict(type='AVARoIHead', ...),
        ...     init_cfg=dict(
        ...         type='PretrainedParts',
        ...         checkpoint='work_dirs/k400_topdown/best.pth',
        ...         parts=('backbone', 'neck')))
    """

    def __init__(self,
                 checkpoint: str,
                 parts: Sequence[str] = ('backbone', 'neck')):
        if isinstance(parts, str) or not parts:
            raise ValueError('PretrainedParts: parts must be a non-empty '
                             f'sequence of submodule names, got {parts!r}')
        self.checkpoint = checkpoint
        self.parts = tuple(parts)

    def split(self, state_dict: StateDict) -> Dict[str, StateDict]:
        """The weights of each top-level part (``backbone.x`` -> part
        ``backbone``, key ``x``); a state dict without ``backbone.`` keys is
        all backbone."""
        if not any(k.startswith('backbone.') for k in state_dict):
            return dict(backbone=OrderedDict(state_dict))
        groups: Dict[str, StateDict] = OrderedDict()
        for key, value in state_dict.items():
            part, _, rest = key.partition('.')
            groups.setdefault(part, OrderedDict())[rest] = value
        return groups

    def __call__(self, model: nn.Module) -> None:
        """Loads :attr:`parts` of ``model``.

        Raises:
            ValueError: ``model`` lacks one of the parts.
            CheckpointError: The file is missing, damaged or unsafe.
        """
        for part in self.parts:
            if not isinstance(getattr(model, part, None), nn.Module):
                raise ValueError(
                    f'PretrainedParts: {type(model).__name__} has no '
                    f'{part!r} to load (parts={self.parts})')
        groups = self.split(
            unwrap_checkpoint(
                load_checkpoint_file(self.checkpoint, map_location='cpu')))
        left_out = sorted(set(groups) - set(self.parts))
        if left_out:
            print_log(
                f'PretrainedParts: {self.checkpoint}: not loading its '
                f'{left_out} weights (parts={self.parts})',
                logger='current',
                level=logging.INFO)
        for part in self.parts:
            module = getattr(model, part)
            weights = groups.get(part)
            if not weights:
                print_log(
                    f'PretrainedParts: {self.checkpoint} has no {part} '
                    f'weights; the {part} keeps its initialisation: '
                    f'{list(module.state_dict())}',
                    logger='current',
                    level=logging.WARNING)
                continue
            checkpoint_filter = getattr(module, 'checkpoint_filter', None)
            if checkpoint_filter is not None:
                weights = checkpoint_filter(weights)
            load_matching(module, weights,
                          f'PretrainedParts: {part} from {self.checkpoint}')
