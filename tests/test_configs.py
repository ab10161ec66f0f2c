"""Every config under ``configs/`` builds its model, and one training
iteration runs on tiny synthetic input of the modality each of its data
sources has; a derived config (or ``--cfg-options``) that sets a variable
changes every place that uses it."""
import ast
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from mmengine.optim import build_optim_wrapper
from mmengine.structures import InstanceData

from mvitx.datasets.demo.detail import CLASSES, make_detail_clip
from mvitx.datasets.demo.render import write_lossless_mp4
from mvitx.datasets.prior_store import save_priors
from mvitx.registry import MODELS
from mvitx.structures import ActionDataSample
from mvitx.utils import load_config, register_all_modules

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
    cfg = load_config(path)
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


def _values(node, key, path=''):
    """``{dotted path: value}`` of every ``key`` in a config subtree."""
    found = {}
    if isinstance(node, dict):
        for k, v in node.items():
            where = f'{path}.{k}' if path else k
            if k == key:
                found[where] = v
            found.update(_values(v, key, where))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            found.update(_values(v, key, f'{path}.{i}'))
    return found


def _derived(tmp_path, base, body):
    path = tmp_path / 'derived.py'
    path.write_text(f'_base_ = [{osp.join(ROOT, "configs", base)!r}]\n' + body)
    return str(path)


def test_a_derived_config_changes_every_use_of_its_variables(tmp_path):
    base = 'ava/mvit_s_k400_ava22.py'
    before = load_config(osp.join(ROOT, 'configs', base))
    cfg = load_config(
        _derived(tmp_path, base, "pretrained = 'my.pth'\nclip_len = 8\n"))
    for name in ('train', 'val', 'test'):
        load = cfg[f'{name}_dataloader'].dataset.pipeline[0]
        assert load.type == 'LoadAVAClip' and load.clip_len == 8
    clip_lens = _values(cfg.to_dict(), 'clip_len')
    # the variable, and LoadAVAClip in the dataloaders and in the base's
    # pipeline variables
    assert len(clip_lens) == len(_values(before.to_dict(), 'clip_len')) >= 4
    assert set(clip_lens.values()) == {8}, clip_lens
    assert cfg.model.init_cfg.checkpoint == 'my.pth'
    assert before.model.init_cfg.checkpoint != 'my.pth'
    assert '${' not in str(cfg.to_dict())


@pytest.mark.parametrize('how', ['derived', 'cfg_options'])
def test_a_variable_reaches_the_pipelines_and_the_schedule(tmp_path, how):
    base = 'topdown/mvit_s_k400_topdown.py'
    options = dict(clip_len=32, max_iters=1000, warmup_iters=10, lr=0.5)
    if how == 'derived':
        cfg = load_config(
            _derived(tmp_path, base,
                     ''.join(f'{k} = {v!r}\n' for k, v in options.items())))
    else:
        cfg = load_config(osp.join(ROOT, 'configs', base), cfg_options=options)
    samplers = [
        t for name in ('train', 'val', 'test')
        for dataset in cfg[f'{name}_dataloader'].dataset.datasets.values()
        for t in dataset.pipeline if t.type == 'SampleFrames'
    ]
    # the base's train pipeline and this config's own val pipeline
    assert len(samplers) == 3
    assert all(t.clip_len == 32 for t in samplers)
    assert cfg.train_cfg.max_iters == 1000
    warmup, cosine = cfg.param_scheduler
    # decay_iters follows max_iters unless set
    assert warmup.end == cosine.begin == 10 and cosine.end == 1000
    assert cfg.optim_wrapper.optimizer.lr == 0.5
    cfg = load_config(
        osp.join(ROOT, 'configs', base),
        cfg_options=dict(options, decay_iters=600))
    assert cfg.param_scheduler[1].end == 600
    assert cfg.train_cfg.max_iters == 1000


def test_an_unknown_variable_names_the_file_and_the_place(tmp_path):
    path = tmp_path / 'bad.py'
    path.write_text("clip_len = 8\n"
                    "pipeline = [dict(type='SampleFrames', "
                    "clip_len='${clip_lne}')]\n")
    with pytest.raises(KeyError) as info:
        load_config(str(path))
    message = str(info.value)
    assert f'{path}:pipeline.0.clip_len' in message
    assert "'${clip_lne}'" in message and "did you mean 'clip_len'" in message


@pytest.mark.parametrize('text, match', [
    ("a = '${b}'\nb = '${a}'\n", 'cycle: a -> b -> a'),
    ("a = 1\nb = 'x${a}'\n", 'not a placeholder'),
])
def test_a_cycle_or_a_placeholder_inside_a_string_is_an_error(
        tmp_path, text, match):
    path = tmp_path / 'bad.py'
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_config(str(path))


def _base_depth(path):
    """How many ``_base_`` levels stand above the config ``path``."""
    bases = []
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '_base_' for t in node.targets):
            bases = ast.literal_eval(node.value)
    bases = [bases] if isinstance(bases, str) else bases
    return max(
        (1 + _base_depth(osp.join(osp.dirname(path), b)) for b in bases),
        default=0)


@pytest.mark.parametrize(
    'path', CONFIGS, ids=lambda p: osp.relpath(p, osp.join(ROOT, 'configs')))
def test_configs_are_at_most_two_base_levels_deep(path):
    assert _base_depth(path) <= 2


@pytest.mark.parametrize('kinetics,ava', [
    ('topdown/mvit_xs_demo_topdown.py', 'ava/mvit_xs_demo_ava_topdown.py'),
    ('topdown/mvit_s_k400_topdown.py', 'ava/mvit_s_k400_ava22_topdown.py'),
])
def test_ava_topdown_recipes_take_the_kinetics_model_whole(
        kinetics, ava, tmp_path):
    """The AVA top-down recipe, initialised from a checkpoint of the
    Kinetics top-down recipe, holds its backbone and neck: every weight
    equal, except the relative-position tables that a stride-16 last stage
    resizes (the demo's structure head, trained on the demo's fingertips,
    stays behind)."""
    register_all_modules()
    torch.manual_seed(0)
    source = MODELS.build(
        load_config(osp.join(ROOT, 'configs', kinetics)).model)
    checkpoint = str(tmp_path / 'kinetics_topdown.pth')
    torch.save(dict(state_dict=source.state_dict()), checkpoint)
    cfg = load_config(
        osp.join(ROOT, 'configs', ava), dict(pretrained=checkpoint))
    assert tuple(cfg.model.init_cfg.parts) == ('backbone', 'neck')
    model = MODELS.build(cfg.model)
    model.init_weights()
    expected = source.state_dict()
    resized = []
    for key, value in model.state_dict().items():
        if not key.startswith(('backbone.', 'neck.')):
            continue
        if value.shape != expected[key].shape:
            resized.append(key)
        else:
            assert torch.equal(value, expected[key]), key
    assert all('.attn.rel_pos_' in k for k in resized), resized
    stride = model.backbone.out_strides[-1]
    assert bool(resized) == (stride != source.backbone.out_strides[-1])


def test_detail_topdown_prediction_does_not_depend_on_the_keypoints(tmp_path):
    """The detail task's keypoints (the glyph's line ends) give its class
    away, so its top-down recipe must use them for the training targets
    only: through the recipe's own test pipeline, one clip predicts the same
    with every class's keypoints, where the neck's default type priority
    (keypoint windows typed apart from the box cells) makes it depend on
    them."""
    register_all_modules()
    path = osp.join(ROOT, 'configs', 'topdown', 'mvit_xs_detail_topdown.py')
    cfg = load_config(path)
    rng_seed, video = 1, str(tmp_path / 'clip.mp4')
    clips = [
        make_detail_clip(np.random.default_rng(rng_seed), label)
        for label in range(len(CLASSES))
    ]
    write_lossless_mp4(video, clips[0][0])
    pipeline = Compose(cfg.test_dataloader.dataset.datasets.detail.pipeline)
    batch = dict(inputs=[], data_samples=[])
    for label, (_, priors) in enumerate(clips):
        prior_file = str(tmp_path / f'priors_{label}.npz')
        save_priors(prior_file, **priors)
        packed = pipeline(
            dict(
                filename=video,
                prior_file=prior_file,
                label=0,
                start_index=0,
                modality='RGB',
                source='detail'))
        batch['inputs'].append(packed['inputs'])
        batch['data_samples'].append(packed['data_samples'])

    def scores(type_priority):
        torch.manual_seed(0)
        model = MODELS.build(
            dict(
                cfg.model,
                neck=dict(cfg.model.neck, type_priority=type_priority)))
        model.eval()
        with torch.no_grad():
            for attn in model.neck.attns:  # zero gates would hide the neck
                attn.gate.fill_(1.)
            out = model.test_step(batch)
        return torch.stack([sample.pred_score for sample in out])

    recipe = scores(cfg.model.neck.type_priority)
    for other in recipe[1:]:
        torch.testing.assert_close(other, recipe[0], rtol=0, atol=1e-6)
    default = scores((0., 3., 2., 1., 3.))
    assert (default - default[0]).abs().amax() > 1e-3


def test_objects_control_rows_train_each_source_equally_long():
    """The co-training control's co-trained rows alternate image and clip
    batches with equal odds, so per source they have the single-source
    rows' schedule: warm-up, decay, validations, stopping and length."""

    def per_source(name):
        cfg = load_config(osp.join(ROOT, 'configs', 'cotrain', name))
        sources = len(cfg.train_dataloader.dataset.datasets)
        if sources > 1:
            sampler = cfg.train_dataloader.batch_sampler
            assert sampler.strategy == 'alternating'
            assert len(set(sampler.ratios.values())) == 1
        warmup, cosine = cfg.param_scheduler
        stop, = [
            h for h in cfg.custom_hooks if h.type == 'PlateauStoppingHook'
        ]
        steps = (warmup.end, cosine.end, cfg.train_cfg.val_interval,
                 stop.begin, cfg.train_cfg.max_iters)
        assert all(n % sources == 0 for n in steps), (name, steps)
        return sources, [n // sources for n in steps] + [stop.patience]

    rows = {
        name: per_source(f'mvit_xs_objects{name}.py')
        for name in ('', '_bridge', '_video', '_image')
    }
    assert [rows[name][0] for name in rows] == [2, 2, 1, 1]
    assert len({tuple(schedule) for _, schedule in rows.values()}) == 1, rows
