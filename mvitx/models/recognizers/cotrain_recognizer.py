"""One backbone with a classification head per dataset, for image + video
co-training (and, with one head, single-source training)."""
from collections import OrderedDict
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseDataPreprocessor, ModuleDict

from mvitx.registry import MODELS
from mvitx.structures import ActionDataSample
from ..base_model import BaseActionModel

Batch = Union[torch.Tensor, Dict[str, torch.Tensor]]
Samples = Union[List[ActionDataSample], Dict[str, List[ActionDataSample]]]


class PerSourcePreprocessor(BaseDataPreprocessor):
    """Runs the configured data preprocessor once per source of a batch.

    A batch of one source and modality (alternating co-training,
    single-source training, samples without a ``source``) passes through
    unchanged. A batch mixing sources (joint co-training, a joint
    validation set) becomes ``dict(inputs={key: tensor},
    data_samples={key: list})`` in order of first appearance, since images
    ``(C, H, W)`` and clips ``(C, T, H, W)`` do not stack, and Mixup must
    not mix label spaces. The key is the source, or ``<source>/<modality>``
    for a source that comes in two modalities (images relabelled into a
    video source, ``ImageDataset(class_map=...)``).

    Args:
        preprocessor (BaseDataPreprocessor): The per-batch preprocessor.
    """

    def __init__(self, preprocessor: BaseDataPreprocessor):
        super().__init__()
        self.preprocessor = preprocessor

    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocesses ``data`` (``inputs`` and ``data_samples`` lists)."""
        samples = data.get('data_samples')
        if not samples:
            return self.preprocessor(data, training)
        groups: Dict[tuple, List[int]] = OrderedDict()
        for i, sample in enumerate(samples):
            key = (sample.metainfo.get('source'),
                   sample.metainfo.get('modality', 'video'))
            groups.setdefault(key, []).append(i)
        if len(groups) == 1:
            return self.preprocessor(data, training)
        sources = [source for source, _ in groups]
        inputs, data_samples = {}, {}
        for (source, modality), idx in groups.items():
            key = (
                source
                if sources.count(source) == 1 else f'{source}/{modality}')
            out = self.preprocessor(
                dict(
                    inputs=[data['inputs'][i] for i in idx],
                    data_samples=[samples[i] for i in idx]), training)
            inputs[key] = out['inputs']
            data_samples[key] = out['data_samples']
        return dict(inputs=inputs, data_samples=data_samples)


@MODELS.register_module()
class CoTrainRecognizer(BaseActionModel):
    """A recognizer with one shared backbone and a head per data source.

    Each batch (or, in joint co-training, each source's part of the batch)
    goes through the backbone (and the optional neck) and the head named by
    its samples' ``source`` metainfo. The loss of source ``s`` is logged as
    ``loss/<s>`` (TensorBoard ``loss/in1k``, ``loss/k400``) and weighted by
    ``loss_weights[s]``; mmengine sums every ``loss*`` before one backward.
    With one head, samples without a ``source`` use it, so the same class
    trains a single-source model.

    With a ``bridge`` (:class:`~mvitx.models.losses.LabelBridge`), an
    image batch of the bridge's ``image_source`` also goes through the
    ``video_source`` head, and the bridge's losses (``loss_bridge_rows``,
    ``loss_bridge_soft``) supervise that head's rows of the video classes
    the class map reaches. Without one, the video head never sees an image
    batch.

    Args:
        backbone (dict): Backbone config, e.g. ``dict(type='MViT')``.
        heads (dict[str, dict]): Source name to head config, e.g.
            ``dict(in1k=dict(type='ClsHead', num_classes=1000,
            in_channels=768), k400=dict(...))``; stored in the
            ``ModuleDict`` ``heads`` (weights ``heads.<source>.fc.*``).
        neck (dict, optional): Neck config; driven through the
            :class:`~mvitx.models.necks.BaseNeck` protocol (e.g.
            ``TopDownModulation``, see :class:`BaseActionModel`). Defaults
            to None.
        loss_weights (dict[str, float], optional): Loss weight per source;
            missing sources get 1. Defaults to None.
        bridge (dict, optional): Label-space bridge config, e.g.
            ``dict(type='LabelBridge', class_map='in1k_k400.csv',
            image_source='in1k', video_source='k400')``; its
            ``num_image_classes``/``num_video_classes`` default to the
            ``num_classes`` of those heads. Defaults to None (off).
        data_preprocessor (dict, optional): Preprocessor config, run per
            source (see :class:`PerSourcePreprocessor`). Defaults to None
            (mmengine's ``BaseDataPreprocessor``).
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 heads: Dict[str, dict],
                 neck: Optional[dict] = None,
                 loss_weights: Optional[Dict[str, float]] = None,
                 bridge: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            backbone,
            neck=neck,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not heads:
            raise ValueError('CoTrainRecognizer needs at least one head')
        loss_weights = loss_weights or {}
        unknown = set(loss_weights) - set(heads)
        if unknown:
            raise KeyError(f'loss_weights for sources without a head: '
                           f'{sorted(unknown)}')
        self.data_preprocessor = PerSourcePreprocessor(self.data_preprocessor)
        self.heads = ModuleDict({
            name: MODELS.build(cfg)
            for name, cfg in heads.items()
        })
        self.loss_weights = {
            name: float(loss_weights.get(name, 1.))
            for name in heads
        }
        self.bridge = None if bridge is None else self._build_bridge(bridge)

    def _build_bridge(self, cfg: dict) -> nn.Module:
        """The bridge, its class counts taken from its two heads."""
        sources = {
            key: cfg.get(key)
            for key in ('image_source', 'video_source')
        }
        for key, source in sources.items():
            if source not in self.heads:
                raise KeyError(f'bridge {key}={source!r} has no head; '
                               f'heads: {list(self.heads)}')
        return MODELS.build(
            cfg,
            default_args=dict(
                num_image_classes=self.heads[
                    sources['image_source']].num_classes,
                num_video_classes=self.heads[
                    sources['video_source']].num_classes))

    def head_name(self, data_samples: List[ActionDataSample]) -> str:
        """The head of a batch: its samples' common ``source``."""
        sources = {s.metainfo.get('source') for s in data_samples}
        if len(sources) != 1:
            raise ValueError(f'one batch mixes sources {sorted(sources)}; '
                             'preprocess it with PerSourcePreprocessor')
        source = sources.pop()
        if source in self.heads:
            return source
        if len(self.heads) == 1:
            return next(iter(self.heads))
        raise KeyError(f'no head for source {source!r}; heads: '
                       f'{list(self.heads)}')

    @staticmethod
    def _groups(inputs: Batch, data_samples: Optional[Samples]):
        """``(inputs, data_samples)`` per source group of a batch."""
        if isinstance(inputs, dict):
            return [(inputs[k], data_samples[k]) for k in inputs]
        return [(inputs, data_samples)]

    def forward(self,
                inputs: Batch,
                data_samples: Optional[Samples] = None,
                mode: str = 'tensor'):
        """Losses, predictions or features.

        Args:
            inputs (Tensor | dict[str, Tensor]): ``(N, C, T, H, W)`` clips
                or ``(N, C, H, W)`` images (``modality='image'``); in
                ``'predict'`` also multi-view ``(N, V, C, T, H, W)`` /
                ``(N, V, C, H, W)``, whose ``V`` scores are averaged per
                sample; or such a tensor per source (joint batches).
            data_samples (list | dict[str, list], optional): The samples,
                matching ``inputs``. Defaults to None.
            mode (str): ``'loss'`` (dict of ``loss/<source>``, the neck's
                and the bridge's losses),
                ``'predict'`` (samples with ``pred_score``) or ``'tensor'``
                (logits of the samples' head, the first head without
                samples; a dict per source for joint batches).
                Defaults to ``'tensor'``.
        """
        groups = self._groups(inputs, data_samples)
        if mode == 'loss':
            losses = {}
            for x, samples in groups:
                name = self.head_name(samples)
                feats, modulation = self.extract_feat(x, samples)
                loss = self.heads[name].loss(feats, samples)
                losses[f'loss/{name}'] = loss * self.loss_weights[name]
                bridged = self.bridge is not None and (
                    name == self.bridge.image_source)
                if bridged:
                    video_head = self.heads[self.bridge.video_source]
                    losses.update(
                        self.bridge.loss(feats, samples, self.heads[name],
                                         video_head))
                # The neck's own losses (e.g. attention supervision), summed
                # over the sources of a joint batch.
                for key, value in self.neck_loss(modulation).items():
                    losses[key] = losses.get(key, 0) + value
            return losses
        if mode == 'predict':
            predictions = []
            for x, samples in groups:
                x, num_views = self.flatten_views(x, samples)
                predictions += self.heads[self.head_name(samples)].predict(
                    self.extract_feat(x, samples)[0], samples, num_views)
            return predictions
        if mode == 'tensor':
            outputs = {}
            for key, (x, samples) in zip(
                    inputs if isinstance(inputs, dict) else [None], groups):
                name = (
                    self.head_name(samples) if samples else next(
                        iter(self.heads)))
                outputs[key] = self.heads[name](
                    self.extract_feat(x, samples)[0])
            return outputs if isinstance(inputs, dict) else outputs[None]
        raise ValueError(f'mode must be loss, predict or tensor, got {mode!r}')
