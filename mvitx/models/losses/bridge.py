"""The label-space bridge of co-training: image batches also supervise the
video head, through a class map between the two label spaces
(``docs/cotraining.md``, "Label-space bridge")."""
from typing import Callable, Dict, List, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mvitx.datasets.class_maps import read_class_map
from mvitx.registry import MODELS
from mvitx.structures import ActionDataSample

Feats = Union[Sequence, torch.Tensor]


@MODELS.register_module()
class LabelBridge(nn.Module):
    """Losses on the video head's logits of an image batch, through a map
    from image classes to video classes.

    The video classes that some image class maps to are the *shared rows*
    of the video head. On an image batch the recognizer also runs the video
    head on the image features (logits ``z`` ``(N, K_vid)``) and this module
    computes, with ``log p = log_softmax(z[:, shared])`` (a softmax over the
    shared rows only, so no other row of the video head gets a gradient
    from images) and ``A`` the ``(K_img, K_shared)`` 0/1 map matrix:

    - ``loss_bridge_rows`` (``shared_rows_weight``): target ``t = y A``
      with ``y`` the image labels, one-hot ``(N, K_img)`` (or the
      ``gt_score`` of Mixup/CutMix when every sample has one): the
      cross-entropy ``-sum(t * log p) / sum(t)``. A sample of a mapped
      image class thus has its video class as a hard target (several image
      classes may share one), and a sample of an unmapped class has ``t =
      0`` and contributes nothing. 0 (still a graph) when no sample of the
      batch is mapped.
    - ``loss_bridge_soft`` (``soft_target_weight``, off at 0): the same
      with ``y = softmax(image_head(feats))``, computed without gradient
      (a fresh pass of the image head, its dropout included): the image
      head's belief, summed over the image classes of each shared video
      class, is the soft target of the video head. The mass ``sum(t_i)``
      the image head puts on mapped classes weights each sample.

    Args:
        class_map (str): A class-map CSV (image ids -> video ids), or the
            file name of a shipped map (``'in1k_k400.csv'``,
            ``'demo.csv'``; :mod:`mvitx.datasets.class_maps`).
        image_source (str): The image source (its head gives ``K_img``).
        video_source (str): The video source (its head gets the losses).
        num_image_classes (int): ``K_img``; the recognizer passes its
            image head's ``num_classes``.
        num_video_classes (int): ``K_vid``; the recognizer passes its video
            head's ``num_classes``.
        shared_rows_weight (float): Weight of ``loss_bridge_rows``.
            Defaults to 1.
        soft_target_weight (float): Weight of ``loss_bridge_soft``; 0 turns
            it off. Defaults to 0.

    Raises:
        ValueError: Class ids out of range of the heads (naming the map's
            ``file:line``), fewer than two shared video classes (a softmax
            over one row is constant), both weights 0, or a negative
            weight.
    """

    def __init__(self,
                 class_map: str,
                 image_source: str,
                 video_source: str,
                 num_image_classes: int,
                 num_video_classes: int,
                 shared_rows_weight: float = 1.,
                 soft_target_weight: float = 0.):
        super().__init__()
        if min(shared_rows_weight,
               soft_target_weight) < 0 or not (shared_rows_weight
                                               or soft_target_weight):
            raise ValueError(
                'LabelBridge weights must be >= 0 and not both 0, got '
                f'shared_rows_weight={shared_rows_weight}, '
                f'soft_target_weight={soft_target_weight}')
        mapping = read_class_map(class_map)
        mapping.check(num_image_classes, num_video_classes)
        shared = sorted(set(mapping.src_to_dst.values()))
        if len(shared) < 2:
            raise ValueError(
                f'{mapping.path}: the map reaches {len(shared)} video '
                'class(es); the shared-rows softmax needs at least 2')
        self.image_source = image_source
        self.video_source = video_source
        self.shared_rows_weight = float(shared_rows_weight)
        self.soft_target_weight = float(soft_target_weight)
        matrix = torch.zeros(num_image_classes, len(shared))
        for src, dst in mapping.src_to_dst.items():
            matrix[src, shared.index(dst)] = 1.
        # Derived from the map file: not part of a checkpoint.
        self.register_buffer('shared_rows', torch.tensor(shared), False)
        self.register_buffer('matrix', matrix, False)

    def _soft_ce(self, video_logits: torch.Tensor,
                 image_scores: torch.Tensor) -> torch.Tensor:
        """``-sum(t * log p) / sum(t)`` with ``t = image_scores A``."""
        target = image_scores.to(self.matrix) @ self.matrix
        log_p = F.log_softmax(video_logits[:, self.shared_rows].float(), 1)
        return -(target * log_p).sum() / target.sum().clamp_min(1e-6)

    def loss(self, feats: Feats, data_samples: List[ActionDataSample],
             image_head: Callable,
             video_head: Callable) -> Dict[str, torch.Tensor]:
        """The bridge losses of one image batch.

        Args:
            feats (tuple | Tensor): Backbone (or neck) output of the ``N``
                images.
            data_samples (list[ActionDataSample]): The ``N`` samples, with
                ``gt_label`` (or ``gt_score`` ``(K_img,)``).
            image_head (Callable): The image head; ``image_head(feats)``
                gives logits ``(N, K_img)``.
            video_head (Callable): The video head; ``video_head(feats)``
                gives logits ``(N, K_vid)``.

        Returns:
            dict[str, Tensor]: ``loss_bridge_rows`` and, with
            ``soft_target_weight > 0``, ``loss_bridge_soft``; weighted.
        """
        video_logits = video_head(feats)
        losses = {}
        if self.shared_rows_weight:
            if all('gt_score' in s for s in data_samples):
                labels = torch.stack([s.gt_score for s in data_samples])
            else:
                ids = torch.cat(
                    [s.gt_label.view(-1)[:1] for s in data_samples])
                labels = F.one_hot(
                    ids.to(self.matrix.device), self.matrix.shape[0])
            rows = self._soft_ce(video_logits, labels)
            losses['loss_bridge_rows'] = self.shared_rows_weight * rows
        if self.soft_target_weight:
            with torch.no_grad():
                image_scores = image_head(feats).float().softmax(1)
            soft = self._soft_ce(video_logits, image_scores)
            losses['loss_bridge_soft'] = self.soft_target_weight * soft
        return losses
