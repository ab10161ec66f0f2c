import glob

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric
from mmengine.runner import Runner
from tensorboard.backend.event_processing.event_accumulator import \
    EventAccumulator

from mvitx.engine.hooks.topdown_attention_hook import TopDownAttentionHook
from mvitx.registry import MODELS
from mvitx.utils import register_all_modules
from tests.models.necks.test_topdown import (hand_sample, make_sample,
                                             recognizer_cfg)


class CountMetric(BaseMetric):

    def process(self, data_batch, data_samples):
        self.results += [1] * len(data_samples)

    def compute_metrics(self, results):
        return dict(count=len(results))


def make_dataset(num_views=1):
    """Three 4x32x32 clips (``(V, C, T, H, W)`` with several views), the
    first and last with a hand box."""
    gen = torch.Generator().manual_seed(0)
    clips = torch.randint(
        0, 256, (3, num_views, 3, 4, 32, 32), generator=gen).to(torch.uint8)
    if num_views == 1:
        clips = clips[:, 0]
    samples = [hand_sample(), make_sample(), hand_sample()]
    return [
        dict(inputs=clip, data_samples=sample)
        for clip, sample in zip(clips, samples)
    ]


def make_model():
    register_all_modules()
    torch.manual_seed(0)
    return MODELS.build(recognizer_cfg())


def make_runner(tmp_path, model, dataset, **hook_args):
    """A Runner that validates ``model`` on ``dataset`` with the hook."""
    return Runner(
        model=model,
        work_dir=str(tmp_path),
        val_dataloader=dict(
            dataset=dataset,
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=3,
            num_workers=0,
            collate_fn=dict(type='pseudo_collate')),
        val_cfg=dict(),
        val_evaluator=[CountMetric()],
        custom_hooks=[dict(type='TopDownAttentionHook', **hook_args)],
        # Named by the test: Runners built within one second would share
        # the visualizer and the logger named after their timestamp.
        visualizer=dict(
            type='Visualizer',
            name=str(tmp_path),
            vis_backends=[dict(type='TensorboardVisBackend')]),
        default_scope='mvitx',
        experiment_name=f'topdown_hook_{tmp_path.name}')


@pytest.mark.parametrize('num_views', [1, 2])
def test_hook_writes_attention_images_to_tensorboard(tmp_path, num_views):
    model = make_model()
    for attn in model.neck.attns:
        nn.init.ones_(attn.gate)
    runner = make_runner(
        tmp_path, model, make_dataset(num_views), num_samples=2, alpha=1.)
    runner.val()
    events = glob.glob(f'{tmp_path}/**/events.out.tfevents.*', recursive=True)
    assert events
    acc = EventAccumulator(events[0], size_guidance={'images': 0})
    acc.Reload()
    assert sorted(acc.Tags()['images']) == [
        'topdown_attention/block1', 'topdown_attention/block2'
    ]
    png = acc.Images('topdown_attention/block2')[0].encoded_image_string
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    image = image[..., ::-1]
    assert image.shape == (2 * 32, 4 * 32, 3)
    # The first view of the first two clips.
    raw = torch.stack([d['inputs'] for d in make_dataset(num_views)[:2]])
    if num_views > 1:
        raw = raw[:, 0]
    raw = raw.permute(0, 3, 2, 4, 1).flatten(2, 3).flatten(0, 1).numpy()
    changed = (image != raw).any(-1)
    # Sample 0's hand box [4, 13) x [4, 10) px covers cells rows 1-2, cols
    # 1-3 of the 4 px grid; sample 1 has no priors, so no overlay.
    assert changed[:32].any() and not changed[32:].any()
    ys, xs = np.nonzero(changed[:32])
    assert ys.min() >= 4 and ys.max() < 12
    assert (xs % 32).min() >= 4 and (xs % 32).max() < 16


def test_hook_needs_a_topdown_neck(tmp_path):
    model = make_model()
    model.neck = None
    runner = make_runner(tmp_path, model, make_dataset())
    with pytest.raises(TypeError, match='attention_maps'):
        hook, = (
            h for h in runner.hooks if isinstance(h, TopDownAttentionHook))
        hook.after_val_epoch(runner)


def test_hook_skips_a_batch_mixing_sources(tmp_path):
    cfg = recognizer_cfg()
    cfg['heads']['other'] = cfg['heads']['toy']
    register_all_modules()
    model = MODELS.build(cfg)
    dataset = make_dataset()
    for item, source in zip(dataset, ('toy', 'other', 'toy')):
        item['data_samples'].set_metainfo(dict(source=source))
    runner = make_runner(tmp_path, model, dataset)
    runner.val()
    log = glob.glob(f'{tmp_path}/**/*.log', recursive=True)
    assert 'mixes sources' in open(log[0]).read()
    events = glob.glob(f'{tmp_path}/**/events.out.tfevents.*', recursive=True)
    acc = EventAccumulator(events[0], size_guidance={'images': 0})
    acc.Reload()
    assert acc.Tags()['images'] == []
