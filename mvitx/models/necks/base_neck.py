"""The protocol every mvitx neck follows, so recognizers and detectors drive
any neck the same way."""
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule


class BaseNeck(BaseModule):
    """A neck between the backbone and the head(s).

    The model calls, in this order:

    1. ``attach(backbone)`` once after building: a neck that works inside
       the backbone (e.g. through ``MViT.register_block_modulator``)
       registers itself here;
    2. ``set_context(data_samples, input_shape)`` before every backbone
       forward, with the batch's samples (their priors) and the shape of the
       backbone input;
    3. ``feats = neck(feats, data_samples)`` on the backbone outputs;
    4. in ``'loss'`` mode, ``losses.update(neck.loss())``.

    Every step but the forward defaults to doing nothing.
    """

    def attach(self, backbone: nn.Module) -> None:
        """Hooks the neck into ``backbone``; nothing by default."""

    def set_context(self,
                    data_samples: Optional[list],
                    input_shape: Optional[Sequence[int]] = None) -> None:
        """Receives the next forward's samples; ignored by default."""

    def loss(self) -> Dict[str, torch.Tensor]:
        """Losses of the neck's own from the last forward; none by
        default."""
        return {}

    def forward(self, feats: tuple, data_samples: Optional[list] = None):
        raise NotImplementedError
