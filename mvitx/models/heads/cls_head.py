"""A linear classification head for images and videos."""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mvitx.registry import MODELS
from mvitx.structures import ActionDataSample

AVERAGE_CLIPS = ('prob', 'score')


@MODELS.register_module()
class ClsHead(BaseModule):
    """Pooling (or the class token), dropout and one ``fc`` layer.

    The input is the backbone's (or neck's) output tuple; its last entry is
    either a map ``(N, C, T, H, W)`` / ``(N, C, H, W)``, averaged over all
    positions, or ``(map, cls_token)`` with ``cls_token`` ``(N, C)``, used
    directly.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels ``C`` of the features.
        dropout_ratio (float): Dropout before ``fc``. Defaults to 0.
        label_smoothing (float): Label smoothing of the default
            cross-entropy. Defaults to 0.
        loss_cls (dict, optional): A ``MODELS`` loss called as
            ``loss(cls_score (N, K), target)`` with ``target`` class ids
            ``(N,)`` or soft scores ``(N, K)``. Defaults to None: softmax
            cross-entropy with ``label_smoothing``.
        average_clips (str): How ``V`` test views of one sample merge:
            ``'prob'`` averages softmax scores, ``'score'`` averages logits
            before the softmax. Defaults to ``'prob'``.
        init_std (float): Std of the truncated-normal ``fc`` weights.
            Defaults to 0.02.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 dropout_ratio: float = 0.,
                 label_smoothing: float = 0.,
                 loss_cls: Optional[dict] = None,
                 average_clips: str = 'prob',
                 init_std: float = 0.02,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if average_clips not in AVERAGE_CLIPS:
            raise ValueError(f'average_clips must be one of {AVERAGE_CLIPS}, '
                             f'got {average_clips!r}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.label_smoothing = label_smoothing
        self.average_clips = average_clips
        self.init_std = init_std
        self.loss_cls = None if loss_cls is None else MODELS.build(loss_cls)
        self.dropout = nn.Dropout(dropout_ratio)
        self.fc = nn.Linear(in_channels, num_classes)

    def init_weights(self):
        """Truncated-normal ``fc`` weights and zero bias (unless an
        ``init_cfg`` says otherwise)."""
        super().init_weights()
        if self.init_cfg is None:
            nn.init.trunc_normal_(self.fc.weight, std=self.init_std)
            nn.init.zeros_(self.fc.bias)

    @staticmethod
    def pool(feats: Union[Sequence, torch.Tensor]) -> torch.Tensor:
        """Features ``(N, C)`` from the last entry of ``feats``."""
        last = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if isinstance(last, (tuple, list)):
            return last[-1]
        if last.ndim > 2:
            return last.flatten(2).mean(dim=2)
        return last

    def forward(self, feats: Union[Sequence, torch.Tensor]) -> torch.Tensor:
        """Class logits.

        Args:
            feats (tuple | Tensor): Backbone output, see the class doc.

        Returns:
            Tensor: Logits ``(N, num_classes)``.
        """
        return self.fc(self.dropout(self.pool(feats)))

    def loss(self, feats: Union[Sequence, torch.Tensor],
             data_samples: List[ActionDataSample]) -> torch.Tensor:
        """Classification loss of one batch.

        Uses the samples' soft targets ``gt_score`` ``(K,)`` (Mixup/CutMix)
        when every sample has one, else their ``gt_label``.

        Args:
            feats (tuple | Tensor): Backbone output for ``N`` samples.
            data_samples (list[ActionDataSample]): The ``N`` samples.

        Returns:
            Tensor: The scalar loss.
        """
        cls_score = self(feats)
        if all('gt_score' in s for s in data_samples):
            target = torch.stack([s.gt_score for s in data_samples])
            target = target.to(cls_score)
        else:
            target = torch.cat([s.gt_label.view(-1)[:1]
                                for s in data_samples]).to(cls_score.device)
        if self.loss_cls is not None:
            return self.loss_cls(cls_score, target)
        return F.cross_entropy(
            cls_score, target, label_smoothing=self.label_smoothing)

    def predict(self,
                feats: Union[Sequence, torch.Tensor],
                data_samples: List[ActionDataSample],
                num_views: int = 1) -> List[ActionDataSample]:
        """Writes ``pred_score`` ``(num_classes,)`` into each sample.

        Args:
            feats (tuple | Tensor): Backbone output for ``N * num_views``
                inputs, the views of one sample adjacent.
            data_samples (list[ActionDataSample]): The ``N`` samples.
            num_views (int): Views ``V`` per sample (clips x crops).
                Defaults to 1.

        Returns:
            list[ActionDataSample]: ``data_samples`` with ``pred_score``.
        """
        cls_score = self(feats)
        cls_score = cls_score.view(len(data_samples), num_views, -1)
        if self.average_clips == 'prob':
            scores = cls_score.softmax(dim=-1).mean(dim=1)
        else:
            scores = cls_score.mean(dim=1).softmax(dim=-1)
        for sample, score in zip(data_samples, scores):
            sample.pred_score = score.detach()
        return data_samples
