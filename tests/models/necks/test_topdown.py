import glob
import itertools
import math
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.structures import BaseDataElement
from tensorboard.backend.event_processing.event_accumulator import \
    EventAccumulator

from mvitx.datasets.demo import SCALES, make_kinetics
from mvitx.models.backbones import MViT
from mvitx.models.necks import ModulationOutput
from mvitx.models.necks.topdown import (TopDownModulation, select_prior_tokens,
                                        top_tokens)
from mvitx.registry import DATASETS, MODELS
from mvitx.structures import (FACE, HAND, KEYPOINT, OBJECT, PERSON,
                              ActionDataSample)
from mvitx.utils import load_config, register_all_modules
from mvitx.utils.checkpoint import load_checkpoint_file
from tests.helpers import ROOT, dist_train

PRIORITY = torch.tensor([0., 3., 2., 1., 3.])
CPU = torch.device('cpu')


def make_backbone():
    """The tiny ``'xs'`` MViT: a 4x32x32 clip gives a (2, 8, 8) first-stage
    grid of 4-pixel cells; blocks 0-1 have 32 channels, blocks 2-3 64."""
    torch.manual_seed(0)
    return MViT(arch='xs')


def features(backbone, x, context=None):
    """The backbone's whole output (map and class token), ``(N, D)``, and
    the modulation it returned (None without a context)."""
    if context is None:
        outs, modulation = backbone(x), None
    else:
        outs, modulation = backbone(x, context)
    feat_map, cls_token = outs[-1]
    return torch.cat([feat_map.flatten(1), cls_token], 1), modulation


def make_neck(**kwargs):
    cfg = dict(
        stage0_channels=32,
        block_indices=(1, 3),
        block_channels=(32, 64),
        embed_dims=8,
        num_heads=2,
        max_tokens=16)
    cfg.update(kwargs)
    return TopDownModulation(**cfg)


def make_sample(boxes=None, types=None, keypoints=None, hw=(32, 32)):
    """A sample with priors; ``boxes`` (T, M, 4) or None for no priors."""
    sample = ActionDataSample(metainfo=dict(img_shape=hw))
    if boxes is None:
        return sample
    boxes = torch.as_tensor(boxes, dtype=torch.float)
    types = torch.as_tensor(types)
    priors = BaseDataElement(
        bboxes=boxes,
        types=types,
        scores=torch.ones(types.shape),
        valid=types >= 0)
    if keypoints is not None:
        priors.keypoints = torch.as_tensor(keypoints, dtype=torch.float)
    sample.priors = priors
    return sample


def hand_sample(num_frames=4):
    """A hand box over cells rows 1-2, columns 1-3 of the 4-pixel grid, and
    one keypoint inside it, in cell (row 1, column 2)."""
    return make_sample(
        [[[4., 4., 13., 10.]]] * num_frames, [[HAND]] * num_frames,
        keypoints=[[[[9., 6., 1.]]]] * num_frames)


def set_gates(neck, value):
    for attn in neck.attns:
        nn.init.constant_(attn.gate, value)


def recognizer_cfg(**neck):
    """The ``'xs'`` MViT + top-down neck (blocks 1 and 2, not 3: after the
    last block a modulation would not reach the class token the head
    reads) + a two-class head."""
    return dict(
        type='CoTrainRecognizer',
        backbone=dict(type='MViT', arch='xs'),
        neck=dict(
            type='TopDownModulation',
            stage0_channels=32,
            block_indices=(1, 2),
            block_channels=(32, 64),
            embed_dims=8,
            num_heads=2,
            max_tokens=16,
            **neck),
        heads=dict(toy=dict(type='ClsHead', num_classes=2, in_channels=64)),
        data_preprocessor=dict(type='ActionDataPreprocessor'))


@DATASETS.register_module(force=True)
class ToyPriorClipDataset(torch.utils.data.Dataset):
    """Random 4x32x32 uint8 clips; even items have a hand box (label 1),
    odd items no priors (label 0)."""

    def __init__(self, length=4):
        gen = torch.Generator().manual_seed(0)
        self.clips = torch.randint(
            0, 256, (length, 3, 4, 32, 32), generator=gen).to(torch.uint8)

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, index):
        sample = hand_sample() if index % 2 == 0 else make_sample()
        sample.gt_label = torch.tensor([1 - index % 2])
        return dict(inputs=self.clips[index], data_samples=sample)


def brute_force_cells(boxes, valid, num_frames, input_hw, grid_thw):
    """Cells whose pixel rectangle overlaps a valid box with positive
    area, by explicit loops."""
    t0, h0, w0 = grid_thw
    ch, cw = input_hw[0] / h0, input_hw[1] / w0
    cells = set()
    for f, r in itertools.product(range(num_frames), range(boxes.shape[1])):
        if not valid[f, r]:
            continue
        x1, y1, x2, y2 = boxes[f, r].tolist()
        for h, w in itertools.product(range(h0), range(w0)):
            dx = min(x2, (w + 1) * cw) - max(x1, w * cw)
            dy = min(y2, (h + 1) * ch) - max(y1, h * ch)
            if dx > 0 and dy > 0:
                cells.add((f * t0 // num_frames) * h0 * w0 + h * w0 + w)
    return cells


def test_selection_is_exactly_the_overlapping_cells():
    gen = torch.Generator().manual_seed(0)
    num_f, num_r, grid = 4, 3, (2, 8, 6)
    hw = (32, 24)
    xy = torch.rand(
        3, num_f, num_r, 2, generator=gen) * torch.tensor([24., 32.])
    size = torch.rand(3, num_f, num_r, 2, generator=gen) * 10
    boxes = torch.cat([xy, xy + size], -1)
    # Edges exactly on cell borders: cell 2 starts at x=8, so a box ending
    # at 8 must not select it, a box starting at 8 must.
    boxes[0, 0, 0] = torch.tensor([4., 4., 8., 8.])
    boxes[0, 1, 0] = torch.tensor([8., 8., 12., 12.])
    valid = torch.rand(3, num_f, num_r, generator=gen) > 0.3
    valid[0, :2, 0] = True
    types = torch.full((3, num_f, num_r), HAND)
    num_frames = torch.tensor([4, 4, 2])
    valid[2, 2:] = False
    sel = select_prior_tokens(boxes, types, torch.ones(types.shape), valid,
                              num_frames, hw, grid, 1000, PRIORITY)
    for i in range(3):
        expected = brute_force_cells(boxes[i], valid[i], int(num_frames[i]),
                                     hw, grid)
        got = sel.index[i][sel.valid[i]].tolist()
        assert set(got) == expected
        assert got == sorted(got)
        assert sel.valid.shape[1] == max(
            len(
                brute_force_cells(boxes[j], valid[j], int(num_frames[j]), hw,
                                  grid)) for j in range(3))
    first = set(sel.index[0][sel.valid[0]].tolist())
    assert {1 * 6 + 1, 2 * 6 + 2} <= first  # frames 0 and 1 -> t 0
    assert 2 * 6 + 2 not in brute_force_cells(boxes[0, :1, :1],
                                              valid[0, :1, :1], 1, hw, grid)


def test_budget_prefers_priority_then_score_and_masks_padding():
    # Sample 0: an object box of 4 cells, a hand box of 4 cells and a
    # keypoint window of 1 cell; sample 1: one hand cell.
    boxes = torch.tensor([[[0., 0., 8., 8.], [16., 16., 24., 24.],
                           [25., 25., 27., 27.]],
                          [[0., 0., 2., 2.], [0., 0., 0., 0.],
                           [0., 0., 0., 0.]]])[:, None]
    types = torch.tensor([[OBJECT, HAND, KEYPOINT], [HAND, -1, -1]])[:, None]
    scores = torch.tensor([[1., .5, .9], [1., 0., 0.]])[:, None]
    valid = types >= 0
    sel = select_prior_tokens(boxes, types, scores, valid, torch.tensor([1,
                                                                         1]),
                              (32, 32), (1, 8, 8), 5, PRIORITY)
    assert sel.index.shape == (2, 5)
    hand_cells = {4 * 8 + 4, 4 * 8 + 5, 5 * 8 + 4, 5 * 8 + 5}
    keypoint_cell = 6 * 8 + 6
    assert set(sel.index[0].tolist()) == hand_cells | {keypoint_cell}
    assert sel.valid[0].all()
    assert sel.types[0].tolist() == [HAND] * 4 + [KEYPOINT]
    assert sel.valid[1].tolist() == [True, False, False, False, False]
    assert sel.index[1].tolist() == [0, 0, 0, 0, 0]
    # Equal type: the higher score wins.
    scores[0, 0, 0] = 0.1
    types[0, 0, 0] = HAND
    sel = select_prior_tokens(boxes, types, scores, valid, torch.tensor([1,
                                                                         1]),
                              (32, 32), (1, 8, 8), 5, PRIORITY)
    assert set(sel.index[0].tolist()) == hand_cells | {keypoint_cell}


def test_budget_keeps_region_cores_in_every_frame():
    # The same 5x5-cell object in both temporal cells, budget 18: the 3x3
    # core of each, not all 25 cells of the first and none of the second.
    boxes = torch.tensor([[[[4., 4., 24., 24.]]] * 4])
    types = torch.full((1, 4, 1), OBJECT)
    sel = select_prior_tokens(boxes, types, torch.ones(1, 4, 1),
                              torch.ones(1, 4, 1, dtype=torch.bool),
                              torch.tensor([4]), (32, 32), (2, 8, 8), 18,
                              PRIORITY)
    core = [h * 8 + w for h in (2, 3, 4) for w in (2, 3, 4)]
    assert sel.index[0].tolist() == core + [64 + i for i in core]


def test_keypoint_windows_and_box_types_from_priors():
    keypoints = torch.zeros(1, 1, 3, 3)
    keypoints[0, 0, 0] = torch.tensor([10., 10., 0.9])  # window 8..12
    keypoints[0, 0, 1] = torch.tensor([30., 2., 0.1])  # below threshold
    sample = make_sample([[[0., 0., 32., 32.], [20., 20., 24., 24.]]],
                         [[PERSON, FACE]],
                         keypoints=keypoints)
    neck = make_neck(keypoint_indices=(0, 1), keypoint_window=4.)
    sel = neck.make_context([sample]).select(1, (1, 8, 8), CPU)
    # The person box is not a selected box type by default.
    assert sel.index[0][sel.valid[0]].tolist() == [2 * 8 + 2, 5 * 8 + 5]
    assert sel.types[0].tolist() == [KEYPOINT, FACE]


def test_init_equals_plain_backbone_and_gate_gets_gradient():
    torch.manual_seed(0)
    backbone = make_backbone()
    x = torch.randn(2, 3, 4, 32, 32)
    plain, _ = features(backbone, x)
    neck = make_neck()
    neck.check_backbone(backbone)
    context = neck.make_context([hand_sample(), hand_sample()], x.shape)
    out, modulation = features(backbone, x, context)
    assert torch.equal(out, plain)
    assert set(modulation.attention) == {1, 3}
    out.square().sum().backward()
    assert all(attn.gate.grad.abs().sum() > 0 for attn in neck.attns)


def test_gradients_reach_exactly_the_selected_first_stage_tokens():
    torch.manual_seed(0)
    neck = make_neck(block_indices=(0, ), block_channels=(16, ))
    set_gates(neck, 1.)
    context = neck.make_context([hand_sample(), make_sample()],
                                (2, 3, 4, 32, 32))
    sel = context.select(2, (2, 8, 8), CPU)
    stage0 = torch.randn(2, 2 * 8 * 8, 32, requires_grad=True)
    tokens = torch.randn(2, 2 * 4 * 4, 16)
    out, attn = neck.modulate(0, tokens, (2, 4, 4), stage0, (2, 8, 8), sel)
    assert attn.shape == sel.index.shape
    out.sum().backward()
    touched = stage0.grad.abs().sum(-1) > 0
    expected = torch.zeros_like(touched)
    expected[0, sel.index[0][sel.valid[0]]] = True
    assert expected[0].sum() == 2 * 2 * 3  # 2 t-cells of 2x3 cells
    assert torch.equal(touched, expected)
    assert torch.equal(out[1], tokens[1])  # the sample without priors


@pytest.mark.parametrize('query_mode', ['all', 'pooled', 'cls'])
def test_samples_without_priors_pass_through(query_mode):
    torch.manual_seed(0)
    backbone = make_backbone()
    x = torch.randn(3, 3, 4, 32, 32)
    plain, _ = features(backbone, x)
    neck = make_neck(query_mode=query_mode)
    set_gates(neck, 1.)
    # No priors, priors with only padding, real priors.
    padded = make_sample([[[0., 0., 0., 0.]]] * 4, [[-1]] * 4)
    context = neck.make_context(
        [make_sample(), padded, hand_sample()], x.shape)
    out, _ = features(backbone, x, context)
    assert torch.equal(out[:2], plain[:2])
    assert not torch.allclose(out[2], plain[2])
    assert neck.make_context(None) is None
    assert torch.equal(features(backbone, x)[0], plain)


def test_image_inputs():
    torch.manual_seed(0)
    backbone = make_backbone()
    x = torch.randn(2, 3, 32, 32)
    plain, _ = features(backbone, x)
    neck = make_neck()
    context = neck.make_context([hand_sample(1), make_sample()])
    assert torch.equal(features(backbone, x, context)[0], plain)
    set_gates(neck, 1.)
    out, modulation = features(backbone, x, context)
    assert backbone(x)[-1][0].shape == (2, 64, 1, 4, 4)
    assert not torch.allclose(out[0], plain[0])
    assert torch.equal(out[1], plain[1])
    maps = neck.attention_maps(modulation)
    assert maps[3].shape == (2, 1, 8, 8)
    assert torch.allclose(maps[3][0].sum(), torch.tensor(1.))
    assert torch.allclose(maps[3][0, 0, 1:3, 1:4].sum(), maps[3][0].sum())
    assert (maps[3][0, 0, 1:3, 1:4] > 0).all()
    assert neck.attention_maps(None) == {}


def test_bf16_autocast():
    torch.manual_seed(0)
    backbone = make_backbone()
    neck = make_neck(
        loss_attn=dict(type='AttentionKLLoss'), structure_head=STRUCTURE_HEAD)
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        plain, _ = features(backbone, x)
        context = neck.make_context([hand_sample(), make_sample()], x.shape)
        out, modulation = features(backbone, x, context)
        losses = neck.loss(modulation)
    loss = losses['loss_topdown_attn'] + losses['loss_topdown_struct']
    assert torch.equal(out, plain)
    (out.float().square().mean() + loss).backward()
    assert torch.isfinite(loss) and losses['loss_topdown_struct'] > 0
    assert all(
        torch.isfinite(p.grad).all() for p in neck.parameters()
        if p.grad is not None)
    assert neck.attns[0].gate.grad.abs().sum() > 0
    assert neck.structure_head.heatmap.weight.grad.abs().sum() > 0
    # bf16 tokens stay bf16 through a non-zero gate.
    set_gates(neck, 1.)
    tokens = torch.randn(2, 2 * 4 * 4, 32, dtype=torch.bfloat16)
    stage0 = torch.randn(2, 2 * 8 * 8, 32, dtype=torch.bfloat16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out, _ = neck.modulate(1, tokens, (2, 4, 4), stage0, (2, 8, 8),
                               context.select(2, (2, 8, 8), CPU))
    assert out.dtype == torch.bfloat16
    assert torch.isfinite(out).all() and not torch.equal(out[0], tokens[0])


def test_attention_supervision_loss_and_implicit_variant():
    torch.manual_seed(0)
    sample = make_sample([[[0., 0., 8., 8.], [16., 16., 24., 24.]]] * 4,
                         [[OBJECT, HAND]] * 4)
    x = torch.randn(1, 3, 4, 32, 32)
    backbone = make_backbone()
    implicit = make_neck()
    _, modulation = backbone(x, implicit.make_context([sample], x.shape))
    # No loss, only the attention statistics for the log.
    assert not any('loss' in key for key in implicit.loss(modulation))

    backbone = make_backbone()
    neck = make_neck(loss_attn=dict(type='AttentionKLLoss', loss_weight=2.))
    context = neck.make_context([sample, make_sample()], (2, 3, 4, 32, 32))
    _, modulation = backbone(torch.cat([x, x]), context)
    sel = modulation.selection
    assert torch.equal(sel.index, context.select(2, (2, 8, 8), CPU).index)
    target = neck.attention_target(modulation)
    # Both boxes cover 2x2 cells alike; the hand's Gaussian weighs 1, the
    # object's 0.5, and the temperature 0.5 squares the ratio. Rows sum to
    # one; the sample without priors has no target.
    hand = (sel.types[0] == HAND) & sel.valid[0]
    obj = (sel.types[0] == OBJECT) & sel.valid[0]
    assert torch.allclose(target[0][hand], 4 * target[0][obj][:hand.sum()])
    assert torch.allclose(target[0].sum(), torch.tensor(1.))
    assert target[1].sum() == 0
    loss = neck.loss(modulation)['loss_topdown_attn']
    attn = torch.stack(list(modulation.attention.values()))[:, :1]
    expected = 2 * (target[:1] * (target[:1] + 1e-6).log() - target[:1] *
                    (attn + 1e-6).log()).sum(-1).mean()
    assert torch.allclose(loss, expected)
    loss.backward()
    assert neck.attns[0].q.weight.grad.abs().sum() > 0
    assert neck.type_embed.weight.grad[HAND].abs().sum() > 0


def test_top_tokens_hold_half_of_the_target():
    target = torch.tensor([[0.1, 0.4, 0.2, 0.3], [0., 0., 0.5, 0.5],
                           [0., 0., 0., 0.]])
    assert top_tokens(target).tolist() == [[False, True, False, True],
                                           [False, False, True, False],
                                           [False, False, False, False]]


def test_attention_statistics_for_the_log():
    """Entropies and the mass on the target's top tokens come with the
    losses, under names without 'loss' (logged, not summed), over the
    samples with a target."""
    neck = make_neck(loss_attn=dict(type='AttentionKLLoss'))
    grid = (2, 8, 8)
    context = neck.make_context([hand_sample(), make_sample()],
                                (2, 3, 4, 32, 32))
    sel = context.select(2, grid, CPU)
    modulation = ModulationOutput(grid, sel, {}, None, context)
    target = neck.attention_target(modulation)
    uniform = sel.valid / sel.valid.sum(1, keepdim=True).clamp(min=1)
    modulation = modulation._replace(attention={1: target, 3: uniform})
    losses = neck.loss(modulation)
    num_tokens = int(sel.valid[0].sum())
    assert num_tokens == 2 * 2 * 3
    top = top_tokens(target[:1])
    entropy = float(-torch.xlogy(target, target).sum())
    expected = {
        'topdown/target_entropy': entropy,
        'topdown/uniform_entropy': math.log(num_tokens),
        'topdown/attn_entropy/block1': entropy,
        'topdown/attn_entropy/block3': math.log(num_tokens),
        'topdown/attn_top_mass/block1': float(target[:1][top].sum()),
        'topdown/attn_top_mass/block3': float(top.sum()) / num_tokens,
    }
    assert set(losses) == {'loss_topdown_attn'} | set(expected)
    for key, value in expected.items():
        assert float(losses[key]) == pytest.approx(value, rel=1e-5), key
    assert 0.5 <= expected['topdown/attn_top_mass/block1'] < 0.8
    assert expected['topdown/attn_top_mass/block3'] < 0.5
    # Block 1 attends exactly as the target says: no loss from it.
    kl = neck.loss_attn(uniform[:1], target[:1])
    assert torch.allclose(losses['loss_topdown_attn'], kl / 2)


STRUCTURE_HEAD = dict(
    type='PriorStructureHead', keypoint_indices=(0, ), num_keypoints3d=2)


@pytest.mark.parametrize('samples', [[make_sample(), make_sample()], None])
def test_batches_without_priors_give_every_parameter_a_gradient(samples):
    # Distributed training needs a gradient for every parameter and the
    # same loss keys on every process, also for image batches without
    # priors (and for a forward without any context).
    backbone = make_backbone()
    neck = make_neck(
        loss_attn=dict(type='AttentionKLLoss'), structure_head=STRUCTURE_HEAD)
    x = torch.randn(2, 3, 32, 32)
    plain, _ = features(backbone, x)
    context = neck.make_context(samples)
    out, modulation = features(backbone, x, context)
    assert torch.equal(out, plain)
    losses = neck.loss(modulation)
    assert sorted(losses) == [
        'loss_topdown_attn', 'loss_topdown_struct', 'loss_topdown_struct3d'
    ]
    assert all(loss == 0 for loss in losses.values())
    (out.sum() + sum(losses.values())).backward()
    assert all(p.grad is not None for p in neck.parameters())


def test_a_batch_with_2d_but_without_3d_keypoints_reaches_every_parameter():
    backbone = make_backbone()
    neck = make_neck(structure_head=STRUCTURE_HEAD)
    x = torch.randn(2, 3, 4, 32, 32)
    context = neck.make_context([hand_sample(), make_sample()], x.shape)
    out, modulation = features(backbone, x, context)
    losses = neck.loss(modulation)
    assert losses['loss_topdown_struct'] > 0
    assert losses['loss_topdown_struct3d'] == 0
    (out.sum() + sum(v for k, v in losses.items() if 'loss' in k)).backward()
    assert all(p.grad is not None for p in neck.parameters())


def test_degraded_priors():
    torch.manual_seed(0)
    grid, shape = (2, 8, 8), (1, 3, 4, 32, 32)
    exact = make_neck().make_context([hand_sample()], shape)
    exact_cells = exact.select(1, grid, CPU).index
    jittered = make_neck(prior_jitter=0.5).make_context([hand_sample()], shape)
    sel = jittered.select(1, grid, CPU)
    assert sel.valid.any()
    assert not torch.equal(sel.index, exact_cells)
    dropped = make_neck(prior_drop=1.).make_context([hand_sample()], shape)
    assert dropped.select(1, grid, CPU).index.shape == (1, 0)


def test_multi_view_batches_split_frames():
    neck = make_neck()
    boxes = [[[0., 0., 4., 4.]]] * 2 + [[[28., 28., 32., 32.]]] * 2
    context = neck.make_context([make_sample(boxes, [[HAND]] * 4)],
                                (2, 3, 2, 32, 32))
    sel = context.select(2, (1, 8, 8), CPU)
    assert sel.index[:, 0].tolist() == [0, 63]
    # A sample without priors in the batch: still split, and left alone.
    context = neck.make_context(
        [make_sample(), make_sample(boxes, [[HAND]] * 4)], (4, 3, 2, 32, 32))
    sel = context.select(4, (1, 8, 8), CPU)
    assert sel.valid[:, 0].tolist() == [False, False, True, True]
    assert sel.index[2:, 0].tolist() == [0, 63]
    context = neck.make_context([make_sample(boxes, [[HAND]] * 4)] * 2,
                                (4, 3, 2, 32, 32))
    with pytest.raises(ValueError, match='multiple'):
        context.select(3, (1, 8, 8), CPU)


def test_build_from_registry_and_bad_args():
    register_all_modules()
    neck = MODELS.build(
        dict(
            type='TopDownModulation',
            stage0_channels=32,
            block_indices=(1, ),
            block_channels=(32, ),
            loss_attn=dict(type='AttentionKLLoss')))
    assert isinstance(neck, TopDownModulation)
    feats = (torch.zeros(1), )
    assert neck(feats, None) is feats
    with pytest.raises(ValueError, match='length'):
        make_neck(block_channels=(32, ))
    with pytest.raises(ValueError, match='repeats'):
        make_neck(block_indices=(1, 1))
    with pytest.raises(ValueError, match='query_mode'):
        make_neck(query_mode='rows')


@pytest.mark.parametrize('model_type', ['CoTrainRecognizer', 'AVADetector'])
@pytest.mark.parametrize('neck, message', [
    (dict(block_channels=(32, 32)),
     'block 2 of the backbone outputs 64 channels, but block_channels '
     'gives 32'),
    (dict(block_indices=(1, 4)), 'block 4, but the backbone has blocks 0 '
     'to 3'),
    (dict(stage0_channels=48), "stage0_channels is 48, but the backbone's "
     'first-stage tokens have 32 channels'),
])
def test_building_checks_the_neck_against_the_backbone(model_type, neck,
                                                       message):
    register_all_modules()
    cfg = recognizer_cfg()
    cfg['neck'].update(neck)
    if model_type == 'AVADetector':
        cfg = dict(
            type='AVADetector',
            backbone=cfg['backbone'],
            neck=cfg['neck'],
            roi_head=dict(type='AVARoIHead', num_classes=3, in_channels=64))
    with pytest.raises(ValueError, match=message):
        MODELS.build(cfg)


def test_model_output_depends_only_on_its_inputs():
    """The same model object gives the same output for the same batch
    whatever it ran before: nothing of a batch (priors, selection,
    attention) stays on the model; with the gates at zero the model is the
    plain backbone."""
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(recognizer_cfg()).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with_priors = [hand_sample(), hand_sample()]
    without = [make_sample(), make_sample()]
    with torch.no_grad():
        plain = model.heads['toy'](model.backbone(x))
        assert torch.equal(model(x, with_priors), plain)
        set_gates(model.neck, 1.)
        first = model(x, with_priors)
        backbone_after_priors = model.heads['toy'](model.backbone(x))
        samples_none_after_priors = model(x)
        model(x, with_priors)
        after_priors = model(x, without)
        again = model(x, with_priors)
    assert not torch.allclose(first, plain)
    assert torch.equal(backbone_after_priors, plain)
    assert torch.equal(samples_none_after_priors, plain)
    assert torch.equal(after_priors, plain)
    assert torch.equal(again, first)
    # The neck's losses of a batch come from that batch's forward.
    model = MODELS.build(
        recognizer_cfg(
            loss_attn=dict(type='AttentionKLLoss'),
            structure_head=STRUCTURE_HEAD)).train()
    for sample in with_priors + without:
        sample.gt_label = torch.tensor([0])
    losses = model(x, with_priors, mode='loss')
    assert losses['loss_topdown_attn'] > 0
    assert losses['loss_topdown_struct'] > 0
    losses_without = model(x, without, mode='loss')
    assert losses_without['loss_topdown_attn'] == 0
    assert losses_without['loss_topdown_struct'] == 0
    again = model(x, with_priors, mode='loss')
    for key in ('loss_topdown_attn', 'loss_topdown_struct'):
        assert torch.equal(again[key], losses[key])


@pytest.fixture(scope='module')
def demo_kinetics(tmp_path_factory):
    """The generator's tiny demo videos and prior files."""
    root = str(tmp_path_factory.mktemp('demo') / 'kinetics')
    make_kinetics(root, 0, SCALES['tiny'], 64, 16)
    return root


def demo_topdown(data_root):
    """The demo top-down config and its training dataset on ``data_root``
    (the pipeline's random crops and flips seeded)."""
    register_all_modules()
    np.random.seed(0)
    torch.manual_seed(0)
    cfg = load_config(
        osp.join(ROOT, 'configs', 'topdown', 'mvit_xs_demo_topdown.py'))
    dataset_cfg = cfg.train_dataloader.dataset.datasets.demo_vid
    dataset_cfg.data_root = data_root
    return cfg, DATASETS.build(dataset_cfg)


def test_demo_config_pipeline_priors_select_hand_tokens(demo_kinetics):
    """Real demo clips and prior files through the demo config's pipeline
    and preprocessor: the selected tokens cover the packed hand boxes."""
    cfg, dataset = demo_topdown(demo_kinetics)
    batch = pseudo_collate([dataset[i] for i in range(2)])
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(batch, training=False)
    inputs, samples = data['inputs'], data['data_samples']
    assert inputs.shape == (2, 3, 8, 64, 64)
    _, modulation = model.extract_feat(inputs, samples)
    assert modulation.stage0_thw == (4, 16, 16)
    sel = modulation.selection
    for i, sample in enumerate(samples):
        priors = sample.priors
        hand = (priors.types == HAND) & priors.valid
        assert hand.any()
        picked = sel.index[i][sel.valid[i]]
        assert len(picked) <= cfg.model.neck.max_tokens
        assert (sel.types[i][sel.valid[i]] == HAND).any()
        # Every selected cell lies inside the union of the (4-pixel cell
        # rounded) hand and object boxes and fingertip windows of its
        # frames, i.e. nothing is selected away from the priors.
        t, y, x = picked // 256, picked // 16 % 16, picked % 16
        boxes = priors.bboxes[(
            (priors.types == HAND) | (priors.types == OBJECT)) & priors.valid]
        boxes = torch.cat([
            boxes,
            torch.cat([
                priors.keypoints[:, :, 1:6, :2] - 2,
                priors.keypoints[:, :, 1:6, :2] + 2
            ], -1).reshape(-1, 4)
        ])
        lo = torch.floor(boxes[:, :2] / 4)
        hi = torch.ceil(boxes[:, 2:] / 4)
        inside = ((x[:, None] >= lo[:, 0]) & (x[:, None] < hi[:, 0]) &
                  (y[:, None] >= lo[:, 1]) & (y[:, None] < hi[:, 1]))
        assert inside.any(1).all()
        assert t.max() < 4
    assert set(modulation.attention) == {1, 2}


def test_demo_config_train_step_logs_the_new_losses(demo_kinetics):
    """One training step of the demo top-down config on real demo clips:
    the attention and structure losses are summed into the loss, the
    attention statistics are logged without being summed, and the
    heatmap target is far from uniform over the selected tokens."""
    cfg, dataset = demo_topdown(demo_kinetics)
    batch = pseudo_collate([dataset[i] for i in range(4)])
    model = MODELS.build(cfg.model)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    log_vars = model.train_step(batch, optim_wrapper)
    stats = {
        'topdown/target_entropy', 'topdown/uniform_entropy',
        'topdown/attn_entropy/block1', 'topdown/attn_entropy/block2',
        'topdown/attn_top_mass/block1', 'topdown/attn_top_mass/block2'
    }
    losses = {'loss/demo_vid', 'loss_topdown_attn', 'loss_topdown_struct'}
    assert set(log_vars) == {'loss'} | losses | stats
    assert torch.allclose(log_vars['loss'],
                          sum(log_vars[key] for key in losses))
    assert all(log_vars[key] > 0 for key in losses)
    # Measured on the 80 demo validation clips: 2.56 nats against
    # log(125 tokens) = 4.83 (the type-weighted target had 4.77).
    assert log_vars['topdown/target_entropy'] < (
        0.7 * log_vars['topdown/uniform_entropy'])
    assert 0 < log_vars['topdown/attn_top_mass/block1'] < 1


DIST_CONFIG = """
_base_ = ['{root}/configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.models.necks.test_topdown'])
model = dict(
    type='CoTrainRecognizer',
    backbone=dict(type='MViT', arch='xs'),
    neck=dict(
        type='TopDownModulation',
        stage0_channels=32,
        block_indices=(1, 2),
        block_channels=(32, 64),
        embed_dims=8,
        num_heads=2,
        max_tokens=16,
        loss_attn=dict(type='AttentionKLLoss'),
        structure_head=dict(
            type='PriorStructureHead', keypoint_indices=(0, ),
            num_keypoints3d=2)),
    heads=dict(toy=dict(type='ClsHead', num_classes=2, in_channels=64)),
    data_preprocessor=dict(type='ActionDataPreprocessor'))
train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='ToyPriorClipDataset', length=8))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=6)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=6, save_best=None))
randomness = dict(seed=0)
"""


def test_two_process_cpu_training(tmp_path):
    """The real recognizer with the neck and its structure head (with a 3D
    term that no batch has a target for), DDP over two gloo processes, one
    clip per process, so processes often differ in whether their clip has
    priors: every step must still reduce a gradient for every parameter
    and log the same loss keys; the attention statistics reach
    TensorBoard."""
    config = tmp_path / 'toy_topdown.py'
    config.write_text(DIST_CONFIG.format(root=ROOT))
    proc = dist_train(config, tmp_path)
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    for key in ('loss_topdown_attn', 'loss_topdown_struct',
                'loss_topdown_struct3d'):
        assert log.count(f' {key}: ') >= 6
    events = glob.glob(f'{tmp_path}/**/events.out.tfevents.*', recursive=True)
    accumulator = EventAccumulator(events[0])
    accumulator.Reload()
    assert {
        'loss_topdown_struct', 'topdown/target_entropy',
        'topdown/attn_entropy/block1', 'topdown/attn_top_mass/block2'
    } <= set(accumulator.Tags()['scalars'])
    state = load_checkpoint_file(str(tmp_path / 'iter_6.pth'))['state_dict']
    # The gates started at zero and were trained.
    assert state['neck.attns.0.gate'].abs().sum() > 0
    assert state['neck.attns.1.gate'].abs().sum() > 0
