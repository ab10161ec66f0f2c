"""What recognizers and detectors share: a backbone, an optional neck and
one way of running them on a batch."""
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.model import BaseModel

from mvitx.registry import MODELS, WEIGHT_INITIALIZERS
from mvitx.structures import ActionDataSample
from .necks.base_neck import ModulationOutput
from .weight_init import PretrainedParts


class BaseActionModel(BaseModel):
    """A backbone and an optional neck (the
    :class:`~mvitx.models.necks.BaseNeck` protocol), driven the same way by
    every recognizer and detector.

    Building checks the neck against the backbone
    (``neck.check_backbone``). :meth:`extract_feat` runs one batch::

        context = neck.make_context(data_samples, inputs.shape)
        feats, modulation = backbone(inputs, context)  # with a context
        feats = neck(feats, data_samples)

    and returns ``(feats, modulation)``; subclasses add
    :meth:`neck_loss` of that ``modulation`` to their losses. Nothing of a
    batch is kept on the model, so an output depends only on the call's
    inputs.

    Weight transfer between models (e.g. a Kinetics top-down recognizer's
    backbone and neck into an AVA detector): ``init_cfg=dict(
    type='PretrainedParts', checkpoint=..., parts=('backbone', 'neck'))``
    (:class:`~mvitx.models.weight_init.PretrainedParts`) loads after every
    module's own initialisation, so the loaded weights are final.

    Args:
        backbone (dict): Backbone config, e.g. ``dict(type='MViT')``.
        neck (dict, optional): Neck config. Defaults to None.
        data_preprocessor (dict, optional): Preprocessor config. Defaults
            to None (mmengine's ``BaseDataPreprocessor``).
        init_cfg (dict | list[dict], optional): mmengine init configs,
            ``PretrainedParts`` among them. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        init_cfgs = list(init_cfg or [])
        if isinstance(init_cfg, dict):
            init_cfgs = [init_cfg]
        # mmengine runs a model's own init_cfg before its children's
        # init_weights (only 'Pretrained' after), which would overwrite the
        # parts loaded; these run last, in init_weights.
        parts_cfgs = [
            c for c in init_cfgs
            if c.get('type') in ('PretrainedParts', PretrainedParts)
        ]
        super().__init__(
            data_preprocessor=data_preprocessor,
            init_cfg=[c for c in init_cfgs if c not in parts_cfgs] or None)
        self.parts_cfgs = parts_cfgs
        self.backbone = MODELS.build(backbone)
        self.neck = None if neck is None else MODELS.build(neck)
        if self.neck is not None:
            self.neck.check_backbone(self.backbone)

    def init_weights(self) -> None:
        """mmengine's initialisation (every module's own, the ``init_cfg``
        entries), then the ``PretrainedParts`` loads."""
        super().init_weights()
        for cfg in self.parts_cfgs:
            WEIGHT_INITIALIZERS.build(cfg)(self)

    def extract_feat(
        self,
        inputs: torch.Tensor,
        data_samples: Optional[List[ActionDataSample]] = None
    ) -> Tuple[tuple, Optional[ModulationOutput]]:
        """Backbone (and neck) features of one batch.

        Args:
            inputs (Tensor): ``(N, C, T, H, W)`` clips or ``(N, C, H, W)``
                images (``N`` may count the views of multi-view samples).
            data_samples (list[ActionDataSample], optional): The batch's
                samples; their priors make the neck's modulation context.
                Defaults to None (no modulation).

        Returns:
            tuple: ``(feats, modulation)``: the backbone's (or neck's)
            outputs and what the backbone returned with the neck's context
            (a :class:`~mvitx.models.necks.ModulationOutput`, None without
            a context).
        """
        if self.neck is None:
            return self.backbone(inputs), None
        context = self.neck.make_context(data_samples, inputs.shape)
        if context is None:
            feats, modulation = self.backbone(inputs), None
        else:
            feats, modulation = self.backbone(inputs, context)
        return self.neck(feats, data_samples), modulation

    def neck_loss(
            self,
            modulation: Optional[ModulationOutput]) -> Dict[str, torch.Tensor]:
        """The neck's own losses of one batch (none without a neck).

        Args:
            modulation (ModulationOutput, optional): From
                :meth:`extract_feat`.
        """
        return {} if self.neck is None else self.neck.loss(modulation)

    @staticmethod
    def flatten_views(
            inputs: torch.Tensor,
            data_samples: List[ActionDataSample]) -> Tuple[torch.Tensor, int]:
        """A multi-view test batch as one batch of views.

        Args:
            inputs (Tensor): ``(N, V, C, T, H, W)`` clips or
                ``(N, V, C, H, W)`` images (samples with
                ``modality='image'``), or a batch of one view per sample.
            data_samples (list[ActionDataSample]): The ``N`` samples.

        Returns:
            tuple[Tensor, int]: ``(N * V, ...)`` inputs, the views of each
            sample in a row, and ``V`` (a one-view batch comes back as it
            is, with 1).
        """
        is_image = data_samples[0].metainfo.get('modality') == 'image'
        if inputs.ndim != (5 if is_image else 6):
            return inputs, 1
        return inputs.flatten(0, 1), inputs.shape[1]
