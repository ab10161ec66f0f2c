"""Every config under ``configs/`` builds its model, and one training
iteration runs on tiny synthetic input of the modality each of its data
sources has."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.structures import InstanceData

from mvitx.registry import MODELS
from mvitx.structures import ActionDataSample
from mvitx.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)
#: Small enough for the largest arch on CPU, and divisible by every
#: arch's patch stride and pooling strides.
FRAMES, SIZE = 4, 32


def _datasets(node):
    """Every ``ImageDataset``/``VideoDataset`` dict in a config subtree."""
    if isinstance(node, dict):
        if node.get('type') in ('ImageDataset', 'VideoDataset'):
            yield node
        for value in node.values():
            yield from _datasets(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _datasets(value)


def _source_modalities(cfg):
    """``{source: 'image' | 'video'}`` of the training data."""
    found = {
        d.get('source'): 'image' if d['type'] == 'ImageDataset' else 'video'
        for d in _datasets(cfg.train_dataloader)
    }
    heads = cfg.model.heads
    if len(heads) == 1 and len(found) == 1:
        return {next(iter(heads)): next(iter(found.values()))}
    assert set(found) == set(heads), (found, heads)
    return found


def _recognizer_batches(cfg):
    """One batch per source: 2 samples of uint8 input and labels."""
    for source, modality in _source_modalities(cfg).items():
        shape = (3, SIZE, SIZE) if modality == 'image' else (3, FRAMES, SIZE,
                                                             SIZE)
        num_classes = cfg.model.heads[source].num_classes
        samples = []
        for i in range(2):
            sample = ActionDataSample(
                metainfo=dict(
                    source=source, modality=modality, img_shape=(SIZE, SIZE)))
            sample.gt_label = torch.tensor([i % num_classes])
            samples.append(sample)
        yield dict(
            inputs=[torch.randint(0, 256, shape, dtype=torch.uint8)] * 2,
            data_samples=samples)


def _detector_batches(cfg):
    num_classes = cfg.model.roi_head.num_classes
    boxes = torch.tensor([[2., 2., 20., 30.], [10., 4., 30., 28.]])
    samples = []
    for _ in range(2):
        sample = ActionDataSample(metainfo=dict(img_shape=(SIZE, SIZE)))
        sample.gt_instances = InstanceData(
            bboxes=boxes, labels=torch.eye(2, num_classes))
        sample.proposals = InstanceData(bboxes=boxes)
        samples.append(sample)
    yield dict(
        inputs=[
            torch.randint(0, 256, (3, FRAMES, SIZE, SIZE), dtype=torch.uint8)
        ] * 2,
        data_samples=samples)


@pytest.mark.parametrize(
    'path', CONFIGS, ids=lambda p: osp.relpath(p, osp.join(ROOT, 'configs')))
def test_config_builds_and_trains_one_iteration(path):
    register_all_modules()
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    is_detector = cfg.model.type == 'AVADetector'
    batches = (_detector_batches if is_detector else _recognizer_batches)(cfg)
    # Gradient accumulation updates the weights every n-th step.
    steps = cfg.optim_wrapper.get('accumulative_counts', 1)
    for batch in batches:
        before = [p.detach().clone() for p in model.parameters()]
        for _ in range(steps):
            losses = model.train_step(batch, optim_wrapper)
            assert losses and all(torch.isfinite(v) for v in losses.values())
        changed = [
            not torch.equal(b, p) for b, p in zip(before, model.parameters())
        ]
        assert any(changed), 'no parameter was updated'
