"""Actor classification on a video feature map: temporal pooling, RoIAlign,
spatial max pooling and a multi-label classifier."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torchvision.ops import roi_align

from mvitx.registry import MODELS


def sigmoid_focal_bce(logits: torch.Tensor, targets: torch.Tensor,
                      gamma: float) -> torch.Tensor:
    """Element-wise binary cross-entropy with logits, down-weighted by
    ``(1 - p_t) ** gamma`` (``gamma=0`` is plain BCE).

    Args:
        logits (Tensor): ``(K, C)`` logits.
        targets (Tensor): ``(K, C)`` targets in ``[0, 1]``.
        gamma (float): Focusing parameter.

    Returns:
        Tensor: ``(K, C)`` losses.
    """
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction='none')
    if gamma == 0:
        return bce
    prob = logits.sigmoid()
    p_t = prob * targets + (1 - prob) * (1 - targets)
    return bce * (1 - p_t).pow(gamma)


@MODELS.register_module()
class AVARoIHead(BaseModule):
    """Multi-label action classification of actor boxes.

    The last backbone feature map ``(N, C, T, H, W)`` is averaged over
    time, each box is pooled with :func:`torchvision.ops.roi_align` to
    ``roi_size`` cells and max-pooled to ``(C,)``, then dropout and a linear
    classifier (or a one-hidden-layer MLP) give ``num_classes`` logits
    trained with sigmoid binary cross-entropy (focal with ``focal_gamma >
    0``). Column ``j`` is action id ``j + 1``.

    Training boxes are ``gt_instances.bboxes`` with multi-hot
    ``gt_instances.labels``; test boxes are ``proposals.bboxes``. Boxes are
    xyxy in input pixels; the feature stride is the ratio of the input to
    the map size.

    Args:
        num_classes (int): Number of actions. Defaults to 80.
        in_channels (int): Channels ``C`` of the map. Defaults to 768.
        roi_size (int): RoIAlign output side. Defaults to 7.
        sampling_ratio (int): RoIAlign samples per cell (0: adaptive).
            Defaults to 0.
        hidden_channels (int, optional): Hidden width of a two-layer MLP
            classifier; None is a linear classifier. Defaults to None.
        dropout_ratio (float): Dropout before the classifier. Defaults to
            0.5.
        focal_gamma (float): Focal term of the loss. Defaults to 0.
        loss_weight (float): Loss weight. Defaults to 1.
        init_std (float): Std of the classifier weights. Defaults to 0.01.
        init_cfg (dict, optional): mmengine init config. Defaults to None.

    Examples:
        >>> head = AVARoIHead(num_classes=80, in_channels=768)
        >>> logits = head(feat, rois, input_hw=(224, 224))  # (K, 80)
    """

    def __init__(self,
                 num_classes: int = 80,
                 in_channels: int = 768,
                 roi_size: int = 7,
                 sampling_ratio: int = 0,
                 hidden_channels: Optional[int] = None,
                 dropout_ratio: float = 0.5,
                 focal_gamma: float = 0.,
                 loss_weight: float = 1.,
                 init_std: float = 0.01,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.roi_size = roi_size
        self.sampling_ratio = sampling_ratio
        self.focal_gamma = focal_gamma
        self.loss_weight = loss_weight
        self.init_std = init_std
        self.dropout = nn.Dropout(dropout_ratio)
        if hidden_channels is None:
            self.mlp = nn.Identity()
            fc_in = in_channels
        else:
            self.mlp = nn.Sequential(
                nn.Linear(in_channels, hidden_channels), nn.GELU(),
                nn.Dropout(dropout_ratio))
            fc_in = hidden_channels
        self.fc = nn.Linear(fc_in, num_classes)

    def init_weights(self):
        """Normal classifier weights and zero bias (unless an ``init_cfg``
        says otherwise)."""
        super().init_weights()
        if self.init_cfg is None:
            nn.init.normal_(self.fc.weight, std=self.init_std)
            nn.init.zeros_(self.fc.bias)

    @staticmethod
    def last_map(feats: Union[Sequence, torch.Tensor]) -> torch.Tensor:
        """The ``(N, C, T, H, W)`` map of the last backbone output (a bare
        map, or ``(map, cls_token)``)."""
        last = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if isinstance(last, (tuple, list)):
            last = last[0]
        if last.ndim != 5:
            raise ValueError('AVARoIHead needs a (N, C, T, H, W) map, got '
                             f'shape {tuple(last.shape)}')
        return last

    def forward(self, feats: Union[Sequence, torch.Tensor], rois: torch.Tensor,
                input_hw: Tuple[int, int]) -> torch.Tensor:
        """Action logits of boxes.

        Args:
            feats (tuple | Tensor): Backbone outputs (see
                :meth:`last_map`).
            rois (Tensor): ``(K, 5)`` ``(batch index, x1, y1, x2, y2)`` in
                input pixels.
            input_hw (tuple[int, int]): Input ``(H, W)``.

        Returns:
            Tensor: ``(K, num_classes)`` logits.
        """
        feat = self.last_map(feats).mean(dim=2)
        scale = feat.shape[-1] / input_hw[1]
        if abs(feat.shape[-2] / input_hw[0] - scale) > 1e-6:
            raise ValueError(f'map {tuple(feat.shape[-2:])} and input '
                             f'{tuple(input_hw)} differ in aspect ratio')
        pooled = roi_align(
            feat,
            rois.to(feat.dtype),
            output_size=self.roi_size,
            spatial_scale=scale,
            sampling_ratio=self.sampling_ratio,
            aligned=True)
        x = pooled.amax(dim=(2, 3))
        return self.fc(self.mlp(self.dropout(x)))

    @staticmethod
    def _rois(boxes: List[torch.Tensor]) -> torch.Tensor:
        """``(K, 5)`` rois of per-sample ``(k_i, 4)`` boxes."""
        return torch.cat([
            torch.cat([b.new_full((len(b), 1), float(i)), b], 1)
            for i, b in enumerate(boxes)
        ])

    def loss(self, feats, data_samples: list,
             input_hw: Tuple[int, int]) -> Dict[str, torch.Tensor]:
        """Loss on the ground-truth actors.

        Args:
            feats (tuple | Tensor): Backbone outputs.
            data_samples (list[ActionDataSample]): With ``gt_instances``
                (``bboxes`` ``(n, 4)``, ``labels`` ``(n, num_classes)``).
            input_hw (tuple[int, int]): Input ``(H, W)``.

        Returns:
            dict[str, Tensor]: ``loss_action`` (mean over the actors at
            least one pixel wide and high, and classes) and ``recall@0.5``
            (the fraction of their ground-truth actions scored above 0.5,
            detached).
        """
        boxes = [s.gt_instances.bboxes.float() for s in data_samples]
        targets = torch.cat(
            [s.gt_instances.labels.float() for s in data_samples])
        rois = self._rois(boxes)
        logits = self(feats, rois, input_hw)
        # Actors that a random crop cut out (boxes clipped to under a pixel)
        # do not count.
        keep = ((rois[:, 3] - rois[:, 1]) >= 1) & (
            (rois[:, 4] - rois[:, 2]) >= 1)
        loss = sigmoid_focal_bce(logits, targets, self.focal_gamma)
        loss = loss[keep].sum() / (keep.sum() * self.num_classes).clamp(min=1)
        with torch.no_grad():
            hits = (logits.sigmoid() > 0.5) & (targets > 0.5)
            recall = hits[keep].sum() / targets[keep].gt(0.5).sum().clamp(
                min=1)
        return {'loss_action': self.loss_weight * loss, 'recall@0.5': recall}

    def predict(self, feats, data_samples: list, input_hw: Tuple[int,
                                                                 int]) -> list:
        """Scores the proposals of each sample.

        Args:
            feats (tuple | Tensor): Backbone outputs.
            data_samples (list[ActionDataSample]): With ``proposals``
                (``bboxes`` ``(m, 4)``).
            input_hw (tuple[int, int]): Input ``(H, W)``.

        Returns:
            list[ActionDataSample]: The samples with ``pred_instances``
            (``bboxes`` ``(m, 4)``, ``scores`` ``(m, num_classes)``
            sigmoid probabilities).
        """
        boxes = [s.proposals.bboxes.float() for s in data_samples]
        scores = self(feats, self._rois(boxes), input_hw).sigmoid()
        for sample, box, score in zip(data_samples, boxes,
                                      scores.split([len(b) for b in boxes])):
            sample.pred_instances = InstanceData(bboxes=box, scores=score)
        return data_samples
