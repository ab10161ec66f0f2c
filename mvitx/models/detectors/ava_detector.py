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
    The head maps boxes onto the map with the backbone's output stride
    (``backbone.out_strides[-1]``, e.g. 32, or 16 with MViT's
    ``stage_q_strides`` keeping the last stage unpooled).

    Args:
        backbone (dict): Backbone config; its last output must be a
            ``(N, C, T, H, W)`` map (or ``(map, cls_token)``) and it must
            say its ``out_strides`` (``(t, h, w)`` per output, equal ``h``
            and ``w``).
        roi_head (dict): :class:`~mvitx.models.heads.AVARoIHead` config.
        neck (dict, optional): Top-down neck config. Defaults to None.
        data_preprocessor (dict, optional): Defaults to
            ``dict(type='ActionDataPreprocessor')``.
        init_cfg (dict | list[dict], optional): mmengine init configs;
            ``dict(type='PretrainedParts', checkpoint=..., parts=(
            'backbone', 'neck'))`` transfers a Kinetics recognizer's
            backbone and neck (see :class:`~mvitx.models.BaseActionModel`).
            Defaults to None.

    Raises:
        TypeError: The backbone has no ``out_strides``.
        ValueError: Its last output's height and width strides differ.
    """

    def __init__(self,
                 backbone: dict,
                 roi_head: dict,
                 neck: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(
            backbone,
            neck=neck,
            data_preprocessor=data_preprocessor
            or dict(type='ActionDataPreprocessor'),
            init_cfg=init_cfg)
        strides = getattr(self.backbone, 'out_strides', None)
        if strides is None:
            raise TypeError('AVADetector needs a backbone that says its '
                            'out_strides (e.g. MViT), got '
                            f'{type(self.backbone).__name__}')
        _, stride_h, stride_w = strides[-1]
        if stride_h != stride_w:
            raise ValueError('AVADetector needs equal height and width '
                             f'strides of the last backbone output, got '
                             f'{tuple(strides[-1])}')
        #: Input pixels per cell of the map the RoI head pools.
        self.feat_stride = stride_h
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
        if mode == 'loss':
            losses = self.roi_head.loss(feats, data_samples, self.feat_stride)
            losses.update(self.neck_loss(modulation))
            return losses
        if mode == 'predict':
            return self.roi_head.predict(feats, data_samples, self.feat_stride)
        if mode == 'tensor':
            return feats
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got "
                         f'{mode!r}')
