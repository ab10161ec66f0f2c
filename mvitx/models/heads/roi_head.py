"""Actor classification on a video feature map: temporal pooling, RoIAlign,
spatial max pooling and a multi-label classifier."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torchvision.ops import roi_align

from mvitx.registry import MODELS
from ..losses.logit_adjustment import (actor_class_priors,
                                       binary_logit_adjustment)


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

    Long tail: with ``logit_adjust_tau > 0`` the training loss sees the
    logits plus ``tau * log(p_c / (1 - p_c))``, ``p_c`` the fraction of
    the training actor boxes of ``train_ann_file`` with action ``c``
    (logit adjustment, Menon et al. 2021, binary form; see
    :mod:`mvitx.models.losses.logit_adjustment`); predictions use the
    plain logits. ``tau=0`` is the plain loss.

    Training boxes are ``gt_instances.bboxes`` with multi-hot
    ``gt_instances.labels``; test boxes are ``proposals.bboxes``. Boxes are
    xyxy in input pixels; the caller gives the map's stride in input pixels
    (the detector takes it from its backbone's ``out_strides``), RoIAlign
    runs at ``spatial_scale = 1 / feat_stride``.

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
        logit_adjust_tau (float): Logit adjustment strength in training;
            0 turns it off. Defaults to 0.
        train_ann_file (str, optional): Training CSV the class frequencies
            of the logit adjustment are counted in (the ``AVAMetric``'s
            ``train_ann_file``); needed when ``logit_adjust_tau`` is not 0.
            Defaults to None.
        loss_weight (float): Loss weight. Defaults to 1.
        init_std (float): Std of the classifier weights. Defaults to 0.01.
        init_cfg (dict, optional): mmengine init config. Defaults to None.

    Raises:
        ValueError: ``logit_adjust_tau`` without ``train_ann_file``.

    Examples:
        >>> head = AVARoIHead(num_classes=80, in_channels=768)
        >>> logits = head(feat, rois, feat_stride=16)  # (K, 80)
    """

    def __init__(self,
                 num_classes: int = 80,
                 in_channels: int = 768,
                 roi_size: int = 7,
                 sampling_ratio: int = 0,
                 hidden_channels: Optional[int] = None,
                 dropout_ratio: float = 0.5,
                 focal_gamma: float = 0.,
                 logit_adjust_tau: float = 0.,
                 train_ann_file: Optional[str] = None,
                 loss_weight: float = 1.,
                 init_std: float = 0.01,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if logit_adjust_tau and train_ann_file is None:
            raise ValueError('AVARoIHead: logit_adjust_tau='
                             f'{logit_adjust_tau} needs train_ann_file (the '
                             'training CSV its class frequencies come from)')
        offsets = torch.zeros(num_classes)
        if logit_adjust_tau:
            offsets = binary_logit_adjustment(
                actor_class_priors(train_ann_file, num_classes),
                logit_adjust_tau)
        # Not in the state dict: it follows from the config.
        self.register_buffer('logit_offsets', offsets, persistent=False)
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
                feat_stride: float) -> torch.Tensor:
        """Action logits of boxes.

        Args:
            feats (tuple | Tensor): Backbone outputs (see
                :meth:`last_map`).
            rois (Tensor): ``(K, 5)`` ``(batch index, x1, y1, x2, y2)`` in
                input pixels.
            feat_stride (float): Input pixels per map cell (e.g. 32).

        Returns:
            Tensor: ``(K, num_classes)`` logits.
        """
        if feat_stride <= 0:
            raise ValueError(f'feat_stride must be positive, got '
                             f'{feat_stride}')
        feat = self.last_map(feats).mean(dim=2)
        pooled = roi_align(
            feat,
            rois.to(feat.dtype),
            output_size=self.roi_size,
            spatial_scale=1 / feat_stride,
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
             feat_stride: float) -> Dict[str, torch.Tensor]:
        """Loss on the ground-truth actors.

        Args:
            feats (tuple | Tensor): Backbone outputs.
            data_samples (list[ActionDataSample]): With ``gt_instances``
                (``bboxes`` ``(n, 4)``, ``labels`` ``(n, num_classes)``).
            feat_stride (float): Input pixels per map cell.

        Returns:
            dict[str, Tensor]: ``loss_action`` (mean over the actors at
            least one pixel wide and high, and classes; of the adjusted
            logits with ``logit_adjust_tau``) and ``recall@0.5`` (the
            fraction of their ground-truth actions the plain logits score
            above 0.5, detached).
        """
        boxes = [s.gt_instances.bboxes.float() for s in data_samples]
        targets = torch.cat(
            [s.gt_instances.labels.float() for s in data_samples])
        rois = self._rois(boxes)
        logits = self(feats, rois, feat_stride)
        # Actors that a random crop cut out (boxes clipped to under a pixel)
        # do not count.
        keep = ((rois[:, 3] - rois[:, 1]) >= 1) & (
            (rois[:, 4] - rois[:, 2]) >= 1)
        loss = sigmoid_focal_bce(logits + self.logit_offsets, targets,
                                 self.focal_gamma)
        loss = loss[keep].sum() / (keep.sum() * self.num_classes).clamp(min=1)
        with torch.no_grad():
            hits = (logits.sigmoid() > 0.5) & (targets > 0.5)
            recall = hits[keep].sum() / targets[keep].gt(0.5).sum().clamp(
                min=1)
        return {'loss_action': self.loss_weight * loss, 'recall@0.5': recall}

    def predict(self, feats, data_samples: list, feat_stride: float) -> list:
        """Scores the proposals of each sample.

        Args:
            feats (tuple | Tensor): Backbone outputs.
            data_samples (list[ActionDataSample]): With ``proposals``
                (``bboxes`` ``(m, 4)``).
            feat_stride (float): Input pixels per map cell.

        Returns:
            list[ActionDataSample]: The samples with ``pred_instances``
            (``bboxes`` ``(m, 4)``, ``scores`` ``(m, num_classes)``
            sigmoid probabilities).
        """
        boxes = [s.proposals.bboxes.float() for s in data_samples]
        scores = self(feats, self._rois(boxes), feat_stride).sigmoid()
        for sample, box, score in zip(data_samples, boxes,
                                      scores.split([len(b) for b in boxes])):
            sample.pred_instances = InstanceData(bboxes=box, scores=score)
        return data_samples
