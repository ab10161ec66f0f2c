from typing import Sequence, Tuple, Union

import torch
import torch.nn as nn

from mvitx.models.necks import BaseNeck
from mvitx.registry import MODELS

Feature = Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]


@MODELS.register_module()
class ChannelGateNeck(BaseNeck):
    """Squeeze-and-excitation style channel gate on the last backbone map.

    ``y = x * (1 + tanh(alpha) * sigmoid(W2 relu(W1 mean(x))))`` with
    ``alpha`` initialised to zero, so the neck starts as the identity and a
    pretrained backbone's behaviour is kept at the first step.

    Args:
        in_channels (int): Channels ``C`` of the last backbone output.
        reduction (int): Bottleneck reduction of the gate MLP. Defaults to 4.
        init_cfg (dict, optional): mmengine init config. Defaults to None.

    Inputs are the backbone's outputs: a tuple whose entries are maps
    ``(N, C, T, H, W)`` or ``(map, cls_token)`` pairs; the same structure
    comes out with the last map (and its class token, which heads read
    when present) gated.
    """

    def __init__(self, in_channels: int, reduction: int = 4, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.gate = nn.Sequential(
            nn.Linear(in_channels, in_channels // reduction), nn.ReLU(),
            nn.Linear(in_channels // reduction, in_channels), nn.Sigmoid())
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self,
                feats: Sequence[Feature],
                data_samples=None) -> Tuple[Feature, ...]:
        *rest, last = feats
        feat_map, cls = (last, None) if torch.is_tensor(last) else last
        weights = self.gate(feat_map.flatten(2).mean(-1))
        scale = 1 + torch.tanh(self.alpha) * weights
        gated = feat_map * scale[:, :, None, None, None]
        return (*rest, gated if cls is None else (gated, cls * scale))
