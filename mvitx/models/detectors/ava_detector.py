"""Spatio-temporal action detector: a video backbone, an optional
top-down neck and an RoI head on given actor boxes."""
from typing import Dict, List, Optional, Union

import torch

from mvitx.registry import MODELS
from mvitx.structures import ActionDataSample
from ..base_model import BaseActionModel


@MODELS.register_module()
class AVADetector(BaseActionModel):
    """Classifies the actions of actor boxes in a clip (AVA style).

    The clip ``(N, C, T, H, W)`` goes through the backbone; a neck with the
    :class:`~mvitx.models.necks.BaseNeck` protocol (e.g.
    :class:`~mvitx.models.necks.TopDownModulation`, driven as
    :class:`~mvitx.models.BaseActionModel` says) modulates the backbone
    with each clip's priors (hands, faces, objects of the people in the
    clip). The RoI head pools the last map inside the ground-truth actor
    boxes in training and inside the person proposals at test time (the
    boxes come with the samples, from the dataset or a person detector).

    Args:
        backbone (dict): Backbone config; its last output must be a
            ``(N, C, T, H, W)`` map (or ``(map, cls_token)``).
        roi_head (dict): :class:`~mvitx.models.heads.AVARoIHead` config.
        neck (dict, optional): Top-down neck config. Defaults to None.
        data_preprocessor (dict, optional): Defaults to
            ``dict(type='ActionDataPreprocessor')``.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 roi_head: dict,
                 neck: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            backbone,
            neck=neck,
            data_preprocessor=data_preprocessor
            or dict(type='ActionDataPreprocessor'),
            init_cfg=init_cfg)
        self.roi_head = MODELS.build(roi_head)

    def forward(
            self,
            inputs: torch.Tensor,
            data_samples: Optional[List[ActionDataSample]] = None,
            mode: str = 'tensor'
    ) -> Union[Dict[str, torch.Tensor], list, tuple]:
        """``'loss'``: losses; ``'predict'``: samples with
        ``pred_instances``; ``'tensor'``: backbone outputs.

        Args:
            inputs (Tensor): ``(N, C, T, H, W)`` normalised clips.
            data_samples (list[ActionDataSample], optional): With
                ``gt_instances`` (loss) or ``proposals`` (predict).
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.
        """
        if inputs.ndim != 5:
            raise ValueError('AVADetector takes (N, C, T, H, W) clips, got '
                             f'shape {tuple(inputs.shape)}')
        feats, modulation = self.extract_feat(inputs, data_samples)
        input_hw = tuple(inputs.shape[-2:])
        if mode == 'loss':
            losses = self.roi_head.loss(feats, data_samples, input_hw)
            losses.update(self.neck_loss(modulation))
            return losses
        if mode == 'predict':
            return self.roi_head.predict(feats, data_samples, input_hw)
        if mode == 'tensor':
            return feats
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got "
                         f'{mode!r}')
