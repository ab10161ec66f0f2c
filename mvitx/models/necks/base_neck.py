"""The protocol every mvitx neck follows, so recognizers and detectors drive
any neck the same way (:class:`~mvitx.models.BaseActionModel`)."""
from typing import Any, Dict, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule


class ModulationOutput(NamedTuple):
    """What a backbone forward with a modulation context returns besides
    its stage outputs (see :class:`~mvitx.models.backbones.MViT`).

    Attributes:
        stage0_thw (tuple[int, int, int]): First-stage token grid
            ``(T0, H0, W0)``.
        selection (Any): What ``context.select`` returned for the batch
            (a :class:`~mvitx.models.necks.topdown.TokenSelection`: the
            chosen first-stage tokens).
        attention (dict[int, Tensor]): Block index to what
            ``context.modulate`` returned with that block's tokens
            (``(N, K)`` attention over the selected tokens).
        stage0_tokens (Tensor): ``(N, T0*H0*W0, C0)`` unpooled first-stage
            tokens (patch embedding plus absolute positions) that the
            selection indexes; the neck's losses on them reach the patch
            embedding.
        context (Any): The context the backbone ran with, so that the
            neck's loss reads the batch's priors from the output alone.
    """
    stage0_thw: Tuple[int, int, int]
    selection: Any
    attention: Dict[int, torch.Tensor]
    stage0_tokens: torch.Tensor
    context: Any


def parameters_zero(module: nn.Module, like: torch.Tensor) -> torch.Tensor:
    """A zero that depends on every parameter of ``module``, so that
    distributed training sees gradients (zeros) for all of them in a batch
    that does not use them (no ``find_unused_parameters`` needed).

    Args:
        module (nn.Module): The module.
        like (Tensor): Gives the dtype of the result.

    Returns:
        Tensor: A scalar zero.
    """
    zero = sum(p.flatten()[0] for p in module.parameters()) * 0
    return zero.to(like.dtype)


class BaseNeck(BaseModule):
    """A neck between the backbone and the head(s).

    The model (:class:`~mvitx.models.BaseActionModel`) drives it:

    1. ``neck.check_backbone(backbone)`` once, when the model is built:
       raises ``ValueError`` when the neck's sizes do not fit the backbone;
    2. per batch, ``context = neck.make_context(data_samples,
       inputs.shape)``: None for a neck that only works on the backbone's
       outputs; otherwise an object the backbone's forward takes, which
       modulates the backbone from inside (see
       :class:`~mvitx.models.backbones.MViT`);
    3. ``feats, modulation = backbone(inputs, context)`` (with a context;
       ``feats = backbone(inputs)`` and ``modulation = None`` without);
    4. ``feats = neck(feats, data_samples)``;
    5. in ``'loss'`` mode, ``losses.update(neck.loss(modulation))``.

    Nothing is kept on the neck between these calls. Every step but the
    forward defaults to doing nothing.
    """

    def check_backbone(self, backbone: nn.Module) -> None:
        """Checks the neck's sizes against ``backbone``; accepts any by
        default."""

    def make_context(self,
                     data_samples: Optional[list],
                     input_shape: Optional[Sequence[int]] = None) -> Any:
        """The modulation context of one batch; None (no modulation inside
        the backbone) by default.

        Args:
            data_samples (list[ActionDataSample], optional): The batch.
            input_shape (Sequence[int], optional): Shape of the backbone
                input. Defaults to None.
        """
        return None

    def loss(
            self,
            modulation: Optional[ModulationOutput]) -> Dict[str, torch.Tensor]:
        """The neck's own losses; none by default.

        Args:
            modulation (ModulationOutput, optional): What the backbone
                returned with the batch's context (None without one).
        """
        return {}

    def forward(self, feats: tuple, data_samples: Optional[list] = None):
        raise NotImplementedError
