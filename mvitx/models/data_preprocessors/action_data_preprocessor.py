"""Moves uint8 image and video batches to the device, normalises them, and
applies the per-source batch augments (Mixup/CutMix)."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor

from mvitx.registry import MODELS
from mvitx.structures import PAD_TYPE


class MixupCutmix:
    """Mixup or CutMix of a batch with its reverse (timm's ``Mixup`` in
    ``'batch'`` mode) for images ``(N, C, H, W)`` and clips
    ``(N, C, T, H, W)``: CutMix cuts the same box from every frame.

    Args:
        num_classes (int): Classes of the soft targets.
        mixup_alpha (float): Beta parameter of Mixup (0 disables it).
            Defaults to 0.8.
        cutmix_alpha (float): Beta parameter of CutMix (0 disables it).
            Defaults to 1.0.
        mix_prob (float): Probability that a batch is mixed at all.
            Defaults to 1.0.
        switch_prob (float): Probability of CutMix instead of Mixup when
            both are enabled. Defaults to 0.5.
        label_smoothing (float): Label smoothing of the targets. Defaults
            to 0.1.
    """

    def __init__(self,
                 num_classes: int,
                 mixup_alpha: float = 0.8,
                 cutmix_alpha: float = 1.0,
                 mix_prob: float = 1.0,
                 switch_prob: float = 0.5,
                 label_smoothing: float = 0.1):
        self.num_classes = num_classes
        self.mixup_alpha = mixup_alpha
        self.cutmix_alpha = cutmix_alpha
        self.mix_prob = mix_prob
        self.switch_prob = switch_prob
        self.label_smoothing = label_smoothing

    def _smooth(self, labels: torch.Tensor) -> torch.Tensor:
        off = self.label_smoothing / self.num_classes
        onehot = F.one_hot(labels, self.num_classes).float()
        return onehot * (1 - self.label_smoothing) + off

    def __call__(self, inputs: torch.Tensor,
                 labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mixes ``inputs`` ``(N, C, [T,] H, W)`` float; returns them and
        the soft targets ``(N, num_classes)`` for ``labels`` ``(N,)``."""
        targets = self._smooth(labels)
        use_mixup, use_cutmix = self.mixup_alpha > 0, self.cutmix_alpha > 0
        draw, switch = torch.rand(2).tolist()
        if not (use_mixup or use_cutmix) or draw >= self.mix_prob:
            return inputs, targets
        cutmix = use_cutmix and (not use_mixup or switch < self.switch_prob)
        alpha = self.cutmix_alpha if cutmix else self.mixup_alpha
        lam = torch.distributions.Beta(alpha, alpha).sample().item()
        flipped = inputs.flip(0)
        if cutmix:
            h, w = inputs.shape[-2:]
            ratio = (1 - lam)**0.5
            ch, cw = int(h * ratio), int(w * ratio)
            cy, cx = (torch.randint(0, n, ()).item() for n in (h, w))
            y1, y2 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
            x1, x2 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
            inputs = inputs.clone()
            inputs[..., y1:y2, x1:x2] = flipped[..., y1:y2, x1:x2]
            lam = 1 - (y2 - y1) * (x2 - x1) / (h * w)
        else:
            inputs = inputs * lam + flipped * (1 - lam)
        return inputs, targets * lam + targets.flip(0) * (1 - lam)


def _pad_to(tensor: torch.Tensor, dim: int, size: int,
            value: float) -> torch.Tensor:
    """Pads ``tensor`` along ``dim`` at the end to ``size`` with ``value``."""
    missing = size - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor, tensor.new_full(shape, value)], dim)


@MODELS.register_module()
class ActionDataPreprocessor(BaseDataPreprocessor):
    """Stacks a single-source batch of uint8 images or clips, moves it to
    the device, converts it to float and normalises it; in training it
    applies the source's Mixup/CutMix; it pads the samples' priors to the
    batch's largest box count.

    Batches: images ``(N, C, H, W)``, clips ``(N, C, T, H, W)``, multi-view
    test batches ``(N, V, C, T, H, W)`` (``(N, V, C, H, W)`` for images);
    the layout follows the samples' ``modality`` (without samples, 4-D
    batches are images and the others videos). A batch holds one source
    (the co-training sampler yields single-source batches).

    With Mixup/CutMix the targets become soft: each sample gets
    ``gt_score`` (FloatTensor ``(num_classes,)``, label-smoothed and mixed)
    next to its unchanged ``gt_label``; a head trains on ``gt_score`` when
    present.

    Priors: ``priors.bboxes`` ``(T, M, 4)``, ``types``, ``scores`` and
    ``valid`` ``(T, M)`` are padded to the batch's largest ``M`` (types -1,
    valid False), ``keypoints`` ``(T, P, K, 3)`` and ``keypoints3d``
    ``(T, P, K3, 4)`` (present in some samples only) to the largest ``P``
    (score 0), so they stack.

    Args:
        mean (Sequence[float]): RGB mean on the 0-255 scale. Defaults to the
            ImageNet mean.
        std (Sequence[float]): RGB standard deviation on the 0-255 scale.
            Defaults to the ImageNet std.
        source_cfgs (dict, optional): Per source name, the
            :class:`MixupCutmix` arguments (``num_classes``,
            ``mixup_alpha``, ``cutmix_alpha``, ``mix_prob``,
            ``switch_prob``, ``label_smoothing``); sources not listed get no
            batch augments. Defaults to None.
        non_blocking (bool): Asynchronous host to device copies. Defaults to
            False.

    Examples:
        >>> preprocessor = ActionDataPreprocessor(source_cfgs=dict(
        ...     in1k=dict(num_classes=1000),
        ...     k400=dict(num_classes=400, mixup_alpha=0.8)))
    """

    def __init__(self,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 source_cfgs: Optional[dict] = None,
                 non_blocking: bool = False):
        super().__init__(non_blocking=non_blocking)
        self.register_buffer('mean', torch.tensor(mean).float(), False)
        self.register_buffer('std', torch.tensor(std).float(), False)
        self.batch_augments = {
            source: MixupCutmix(**cfg)
            for source, cfg in (source_cfgs or {}).items()
        }

    @staticmethod
    def _batch_meta(
            samples: Optional[list]) -> Tuple[Optional[str], Optional[str]]:
        if not samples:
            return None, None
        sources = {s.metainfo.get('source') for s in samples}
        if len(sources) > 1:
            raise ValueError(f'a batch must come from one source, got '
                             f'{sorted(map(str, sources))}')
        modalities = {s.metainfo.get('modality', 'video') for s in samples}
        if len(modalities) > 1:
            raise ValueError(f'mixed modalities {sorted(modalities)}')
        return sources.pop(), modalities.pop()

    @staticmethod
    def _pad_priors(samples: list) -> None:
        priors = [s.priors for s in samples if 'priors' in s]
        if not priors:
            return
        max_m = max(p.bboxes.shape[1] for p in priors)
        pads = dict(bboxes=0, types=PAD_TYPE, scores=0, valid=False)
        for p in priors:
            for field, value in pads.items():
                if field in p:
                    p.set_field(_pad_to(p.get(field), 1, max_m, value), field)
        with_kps = [p for p in priors if 'keypoints' in p]
        if with_kps:
            max_p = max(p.keypoints.shape[1] for p in with_kps)
            for p in with_kps:
                p.keypoints = _pad_to(p.keypoints, 1, max_p, 0)
                # the same persons as keypoints (score 0 for padding)
                if 'keypoints3d' in p:
                    p.keypoints3d = _pad_to(p.keypoints3d, 1, max_p, 0)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Normalises ``data['inputs']`` (a list of uint8 tensors or a
        stacked tensor) and returns ``dict(inputs, data_samples)``."""
        data = self.cast_data(data)
        inputs = data['inputs']
        samples: Optional[List] = data.get('data_samples')
        source, modality = self._batch_meta(samples)
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        inputs = inputs.float()
        if modality is None:  # no samples: (N, C, H, W) is an image batch
            modality = 'image' if inputs.ndim == 4 else 'video'
        channel_dim = 1 + inputs.ndim - (4 if modality == 'image' else 5)
        shape = [1] * inputs.ndim
        shape[channel_dim] = -1
        inputs = (inputs - self.mean.view(shape)) / self.std.view(shape)
        if training and source in self.batch_augments and samples:
            if channel_dim != 1:
                raise ValueError('batch augments need single-view batches')
            labels = torch.cat([s.gt_label[:1] for s in samples])
            inputs, scores = self.batch_augments[source](inputs, labels)
            for sample, score in zip(samples, scores):
                sample.gt_score = score
        if samples:
            self._pad_priors(samples)
        return dict(inputs=inputs, data_samples=samples)
