"""Running a trained recognizer on a file or an array, as ``tools/test.py``
would run it on that sample.

:func:`init_model` builds the model of a config, loads a checkpoint with
the safe loader and keeps, per data source of the config's test set, the
test pipeline, the modality and the class names. :func:`inference_recognizer`
runs one video or image through the pipeline of its source and the head of
that source (``model.test_step``, as the test loop does) and returns the
top-k classes.

Examples:
    >>> model = init_model('configs/cotrain/mvit_xs_demo.py', 'iter_600.pth')
    >>> top = inference_recognizer(model, 'clip.mp4', topk=3)['demo_vid']
    >>> print(top.names[0], top.scores[0])  # e.g. "object rises 0.93"
"""
import os.path as osp
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmcv.transforms import BaseTransform
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from mvitx.datasets.image_dataset import IMG_EXTENSIONS
from mvitx.datasets.transforms.loading import (LoadImage, _VideoDecode,
                                               _VideoInit)
from mvitx.registry import DATASETS, MODELS
from mvitx.utils import load_checkpoint_file, load_config, register_all_modules

#: The sample key of an input file, per modality (as the datasets name it).
PATH_KEYS = dict(image='img_path', video='filename')


@dataclass
class SourceInfo:
    """What inference needs of one data source of a config's test set.

    Attributes:
        modality (str): ``'video'`` or ``'image'``.
        pipeline (Compose): The source's test pipeline (file to packed
            inputs).
        classes (tuple[str], optional): Class names in id order; None when
            neither the checkpoint nor the config's dataset gives them.
    """
    modality: str
    pipeline: Compose
    classes: Optional[Tuple[str, ...]]


@dataclass
class Recognition:
    """The top-k classes of one input under the head of one source.

    Attributes:
        source (str): The data source (head) that scored the input.
        labels (list[int]): Class ids, best first.
        names (list[str]): Their class names (the ids as text when the
            class names are unknown).
        scores (list[float]): Their scores (the head's softmax
            probabilities, views averaged as the test loop averages them).
        pred_score (np.ndarray): ``(num_classes,)`` every class's score,
            the ``pred_score`` of the test loop's prediction.
    """
    source: str
    labels: List[int]
    names: List[str]
    scores: List[float]
    pred_score: np.ndarray


def _test_datasets(cfg: Config) -> List[Tuple[Optional[str], dict]]:
    """``(key, dataset config)`` of each source of the test set (the
    validation set when there is none); ``key`` is the source's name in a
    ``CoTrainDataset`` (None for a single dataset)."""
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if loader is None:
        raise ValueError('the config has neither test_dataloader nor '
                         'val_dataloader to take the test pipeline from')
    dataset = loader['dataset']
    if dataset.get('type') == 'CoTrainDataset':
        return list(dataset['datasets'].items())
    return [(None, dataset)]


def _checkpoint_classes(dataset_meta: dict, key: Optional[str],
                        source: str) -> Optional[Tuple[str, ...]]:
    """The class names of one source in a checkpoint's ``dataset_meta``
    (the training set's metainfo: a ``CoTrainDataset``'s ``sources`` plus
    one metainfo per source, or one dataset's)."""
    if 'sources' in dataset_meta:
        name = key if key in dataset_meta else source
        dataset_meta = dataset_meta.get(name, {})
    classes = dataset_meta.get('classes')
    return None if classes is None else tuple(classes)


def _source_infos(cfg: Config, dataset_meta: dict) -> Dict[str, SourceInfo]:
    """Per source (the ``source`` its samples carry), its
    :class:`SourceInfo`.

    Class names come from the checkpoint's ``dataset_meta`` or else from the
    config's dataset (read only then, since that needs the data on disk).
    """
    infos = {}
    for key, dataset_cfg in _test_datasets(cfg):
        # lazy_init: the pipeline, source and modality without reading the
        # annotations
        dataset = DATASETS.build(dict(dataset_cfg, lazy_init=True))
        source = dataset.source
        classes = _checkpoint_classes(dataset_meta, key, source)
        if classes is None:
            try:
                dataset.full_init()
                classes = dataset.metainfo.get('classes')
            except FileNotFoundError as err:
                warnings.warn(f'no class names for source {source!r}: the '
                              f'checkpoint has none and {err}; predictions '
                              'name class ids')
        infos[source] = SourceInfo(
            modality=dataset.modality,
            pipeline=dataset.pipeline,
            classes=None if classes is None else tuple(classes))
    return infos


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: Union[str, torch.device] = 'cpu') -> nn.Module:
    """Builds a model from a config for inference.

    The checkpoint is loaded with :func:`mvitx.utils.load_checkpoint_file`
    (``weights_only=True`` and mmengine's allowlist), all weights required.
    The model keeps ``cfg`` (the config) and ``test_sources``: per data
    source of the config's test set (``test_dataloader``, else
    ``val_dataloader``; each source of a ``CoTrainDataset``) a
    :class:`SourceInfo` with its test pipeline, modality and class names.
    Class names come from the checkpoint's ``meta.dataset_meta`` (written by
    mmengine's Runner), else from the config's dataset (which must then be
    on disk), else they are unknown (a warning; ids are shown).

    Args:
        config (str | Config): Config file (read with
            :func:`~mvitx.utils.load_config`, its variables resolved) or
            loaded config.
        checkpoint (str, optional): Checkpoint file (an mmengine checkpoint
            or a bare state dict). Defaults to None: the weights stay as
            built (untrained).
        device (str | torch.device): Where the model runs. Defaults to
            ``'cpu'``.

    Returns:
        nn.Module: The model, in eval mode, on ``device``.
    """
    register_all_modules(init_default_scope=False)
    cfg = load_config(config) if isinstance(config, str) else config
    dataset_meta = {}
    if checkpoint is not None:
        state = load_checkpoint_file(checkpoint, map_location='cpu')
        dataset_meta = state.get('meta', {}).get('dataset_meta') or {}
    # the config's scope, as the Runner would set it, whatever scope the
    # caller left current (e.g. mmdet's after a PriorExtractor)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
        test_sources = _source_infos(cfg, dataset_meta)
    if checkpoint is not None:
        model.load_state_dict(state.get('state_dict', state))
    model.cfg = cfg
    model.test_sources = test_sources
    return model.to(device).eval()


class ArrayInit(BaseTransform):
    """Stands in for the video opener (or, with :class:`ArrayDecode`, for
    ``LoadImage``) of a pipeline when the frames are already decoded.

    Required keys: ``array`` ``(F, H, W, 3)`` uint8 RGB. Added keys:
    ``video_reader`` (the array), ``total_frames``; ``frame_inds`` (every
    frame) unless a later ``SampleFrames`` chooses them. Removes ``array``.
    """

    def transform(self, results: dict) -> dict:
        frames = results.pop('array')
        results['video_reader'] = frames
        results['total_frames'] = len(frames)
        results['frame_inds'] = np.arange(len(frames))
        return results


class ArrayDecode(_VideoDecode):
    """Stands in for the video decoder of a pipeline: takes the sampled
    frames from the array that :class:`ArrayInit` put in
    ``video_reader``."""

    def read(self, reader: np.ndarray, inds: List[int]) -> np.ndarray:
        return reader[inds]


def array_pipeline(pipeline: Compose) -> Compose:
    """The pipeline for decoded frames: its file openers and decoders
    swapped for :class:`ArrayInit` / :class:`ArrayDecode`, ``LoadImage``
    for both; sampling and every later transform stay.

    Args:
        pipeline (Compose): A test pipeline reading files.

    Returns:
        Compose: The same pipeline reading ``results['array']``.
    """
    steps = []
    for step in pipeline.transforms:
        if isinstance(step, LoadImage):
            steps += [ArrayInit(), ArrayDecode()]
        elif isinstance(step, _VideoInit):
            steps.append(ArrayInit())
        elif isinstance(step, _VideoDecode):
            steps.append(ArrayDecode())
        else:
            steps.append(step)
    return Compose(steps)


def input_modality(inputs: Union[str, np.ndarray]) -> str:
    """``'image'`` or ``'video'``: an image file (by extension) or an
    ``(H, W, 3)`` array is an image; other files and ``(T, H, W, 3)``
    arrays are videos.

    Raises:
        ValueError: An array of another shape or not uint8.
    """
    if isinstance(inputs, str):
        return 'image' if inputs.lower().endswith(IMG_EXTENSIONS) else 'video'
    if inputs.dtype != np.uint8 or inputs.ndim not in (
            3, 4) or inputs.shape[-1] != 3:
        raise ValueError('arrays must be uint8 RGB, (H, W, 3) images or '
                         f'(T, H, W, 3) clips; got {inputs.dtype} '
                         f'{tuple(inputs.shape)}')
    return 'image' if inputs.ndim == 3 else 'video'


def _modalities(sources: Dict[str, SourceInfo]) -> Dict[str, str]:
    """Source name to modality, for messages."""
    return {name: info.modality for name, info in sources.items()}


def _sources_for(model: nn.Module, modality: str,
                 source: Optional[str]) -> List[str]:
    sources = model.test_sources
    if source is None:
        names = [s for s, info in sources.items() if info.modality == modality]
        if not names:
            raise ValueError(f'the model has no {modality} source (its '
                             f'sources: {_modalities(sources)}); pass '
                             'source=')
        return names
    if source not in sources:
        raise KeyError(f'unknown source {source!r}; the config\'s test set '
                       f'has {_modalities(sources)}')
    if sources[source].modality != modality:
        raise ValueError(f'source {source!r} takes {sources[source].modality}'
                         f' inputs; this input is an {modality}')
    return [source]


def inference_recognizer(model: nn.Module,
                         inputs: Union[str, np.ndarray],
                         source: Optional[str] = None,
                         topk: int = 5) -> Dict[str, Recognition]:
    """Top-k classes of one video or image.

    The input goes through the test pipeline of its source (for arrays with
    the file loading swapped for the given frames, see
    :func:`array_pipeline`) and ``model.test_step``, as in ``tools/test.py``
    (multi-view tests average their views the same way).

    Args:
        model (nn.Module): A recognizer from :func:`init_model`.
        inputs (str | np.ndarray): A video file, an image file (by its
            extension, see :data:`~mvitx.datasets.image_dataset.
            IMG_EXTENSIONS`), a uint8 RGB clip ``(T, H, W, 3)`` or image
            ``(H, W, 3)``.
        source (str, optional): The source (head) to use. Defaults to None:
            every source of the input's modality.
        topk (int): Classes per source (at most the number of classes).
            Defaults to 5.

    Returns:
        dict[str, Recognition]: Per source used, its top-k.

    Raises:
        KeyError: An unknown ``source``.
        ValueError: A source of the other modality, no source of the
            input's modality, or an array of a wrong shape or type.
    """
    modality = input_modality(inputs)
    results = {}
    for name in _sources_for(model, modality, source):
        info = model.test_sources[name]
        if isinstance(inputs, str):
            if not osp.isfile(inputs):
                raise FileNotFoundError(f'{inputs} does not exist')
            pipeline, sample = info.pipeline, {PATH_KEYS[modality]: inputs}
        else:
            pipeline, sample = array_pipeline(info.pipeline), dict(
                array=inputs if modality == 'video' else inputs[None])
        data = pipeline(dict(sample, source=name, modality=modality))
        with torch.no_grad():
            prediction = model.test_step(
                dict(
                    inputs=[data['inputs']],
                    data_samples=[data['data_samples']]))[0]
        results[name] = _top(name, prediction.pred_score, info.classes, topk)
    return results


def _top(source: str, pred_score: torch.Tensor,
         classes: Optional[Sequence[str]], topk: int) -> Recognition:
    scores = pred_score.float().cpu().numpy()
    # stable: equal scores keep id order, so the result is reproducible
    labels = np.argsort(-scores, kind='stable')[:topk].tolist()
    return Recognition(
        source=source,
        labels=labels,
        names=[str(i) if classes is None else classes[i] for i in labels],
        scores=[float(scores[i]) for i in labels],
        pred_score=scores)


def topk_lines(results: Dict[str, Recognition]) -> List[str]:
    """Text of :func:`inference_recognizer`'s results: one ``'name score'``
    line per class, best first, under a ``'source:'`` line per source when
    there are several."""
    lines = []
    for source, result in results.items():
        if len(results) > 1:
            lines.append(f'{source}:')
        lines += [
            f'{name} {score:.3f}'
            for name, score in zip(result.names, result.scores)
        ]
    return lines
