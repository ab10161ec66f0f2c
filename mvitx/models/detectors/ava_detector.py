"""Spatio-temporal action detector: a video backbone, an optional
top-down neck and an RoI head on given actor boxes."""
from typing import Dict, List, Optional, Union

import torch
from mmengine.model import BaseModel

from mvitx.registry import MODELS
from mvitx.structures import ActionDataSample


@MODELS.register_module()
class AVADetector(BaseModel):
    """Classifies the actions of actor boxes in a clip (AVA style).

    The clip ``(N, C, T, H, W)`` goes through the backbone; a neck with the
    :class:`~mvitx.models.necks.BaseNeck` protocol (e.g.
    :class:`~mvitx.models.necks.TopDownModulation`:
    ``attach``/``set_context``/``loss``) modulates the backbone with each
    clip's priors (hands, faces, objects of the people in the clip). The
    RoI head pools the last map inside the ground-truth actor boxes in
    training and inside the person proposals at test time (the boxes come
    with the samples, from the dataset or a person detector).

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
            data_preprocessor=data_preprocessor
            or dict(type='ActionDataPreprocessor'),
            init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = None if neck is None else MODELS.build(neck)
        if self.neck is not None:
            self.neck.attach(self.backbone)
        self.roi_head = MODELS.build(roi_head)

    def extract_feat(self, inputs: torch.Tensor,
                     data_samples: Optional[List[ActionDataSample]]) -> tuple:
        """Backbone outputs, modulated by the neck when there is one.

        Args:
            inputs (Tensor): ``(N, C, T, H, W)`` normalised clips.
            data_samples (list[ActionDataSample], optional): Their priors
                drive the neck.

        Returns:
            tuple: The backbone's outputs.
        """
        if self.neck is None:
            return self.backbone(inputs)
        self.neck.set_context(data_samples, inputs.shape)
        return self.neck(self.backbone(inputs), data_samples)

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
        feats = self.extract_feat(inputs, data_samples)
        input_hw = tuple(inputs.shape[-2:])
        if mode == 'loss':
            losses = self.roi_head.loss(feats, data_samples, input_hw)
            if self.neck is not None:
                losses.update(self.neck.loss())
            return losses
        if mode == 'predict':
            return self.roi_head.predict(feats, data_samples, input_hw)
        if mode == 'tensor':
            return feats
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got "
                         f'{mode!r}')
