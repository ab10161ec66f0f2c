import itertools
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement

from mvitx.models.backbones import MViT
from mvitx.models.necks.topdown import (FACE, HAND, KEYPOINT, OBJECT, PERSON,
                                        TopDownModulation, select_prior_tokens)
from mvitx.registry import DATASETS, MODELS
from mvitx.structures import ActionDataSample
from mvitx.utils import register_all_modules
from mvitx.utils.checkpoint import load_checkpoint_file
from tests.helpers import ROOT, dist_train, load_tool

PRIORITY = torch.tensor([0., 3., 2., 1., 3.])


def make_backbone():
    """The tiny ``'xs'`` MViT: a 4x32x32 clip gives a (2, 8, 8) first-stage
    grid of 4-pixel cells; blocks 0-1 have 32 channels, blocks 2-3 64."""
    torch.manual_seed(0)
    return MViT(arch='xs')


def features(backbone, x):
    """The backbone's whole output (map and class token), ``(N, D)``."""
    feat_map, cls_token = backbone(x)[-1]
    return torch.cat([feat_map.flatten(1), cls_token], 1)


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
    return make_sample([[[4., 4., 13., 10.]]] * num_frames,
                       [[HAND]] * num_frames)


def set_gates(neck, value):
    for attn in neck.attns:
        nn.init.constant_(attn.gate, value)


@MODELS.register_module(force=True)
class ToyTopDownRecognizer(BaseModel):
    """The ``'xs'`` MViT + top-down neck + a linear head on the class token,
    driven as the protocol in ``mvitx/models/necks/topdown.py`` says (for
    the hook and distributed tests)."""

    def __init__(self, supervised=False):
        super().__init__()
        self.backbone = make_backbone()
        # After block 3, the last, a modulation would not reach the class
        # token the head reads.
        self.neck = make_neck(
            block_indices=(1, 2),
            loss_attn=dict(type='AttentionKLLoss') if supervised else None)
        self.neck.attach(self.backbone)
        self.head = nn.Linear(64, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = torch.stack(inputs).float() / 255
        self.neck.set_context(data_samples, x.shape)
        feats = self.neck(self.backbone(x), data_samples)
        scores = self.head(feats[-1][1])
        if mode == 'loss':
            labels = torch.cat([s.gt_label for s in data_samples])
            return dict(
                loss_cls=F.cross_entropy(scores, labels), **self.neck.loss())
        for sample, score in zip(data_samples, scores):
            sample.pred_score = score
        return data_samples


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
    neck.set_context([sample])
    sel = neck.select(1, (1, 8, 8), torch.device('cpu'))
    # The person box is not a selected box type by default.
    assert sel.index[0][sel.valid[0]].tolist() == [2 * 8 + 2, 5 * 8 + 5]
    assert sel.types[0].tolist() == [KEYPOINT, FACE]


def test_init_equals_plain_backbone_and_gate_gets_gradient():
    torch.manual_seed(0)
    backbone = make_backbone()
    x = torch.randn(2, 3, 4, 32, 32)
    plain = features(backbone, x)
    neck = make_neck()
    neck.attach(backbone)
    neck.set_context([hand_sample(), hand_sample()], x.shape)
    out = features(backbone, x)
    assert torch.equal(out, plain)
    assert set(neck.attention) == {1, 3}
    out.square().sum().backward()
    assert all(attn.gate.grad.abs().sum() > 0 for attn in neck.attns)


def test_gradients_reach_exactly_the_selected_first_stage_tokens():
    torch.manual_seed(0)
    neck = make_neck(block_indices=(0, ), block_channels=(16, ))
    set_gates(neck, 1.)
    neck.set_context([hand_sample(), make_sample()], (2, 3, 4, 32, 32))
    stage0 = torch.randn(2, 2 * 8 * 8, 32, requires_grad=True)
    tokens = torch.randn(2, 2 * 4 * 4, 16)
    out = neck.modulate(0, tokens, (2, 4, 4), stage0, (2, 8, 8))
    out.sum().backward()
    sel = neck.select(2, (2, 8, 8), torch.device('cpu'))
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
    plain = features(backbone, x)
    neck = make_neck(query_mode=query_mode)
    set_gates(neck, 1.)
    neck.attach(backbone)
    # No priors, priors with only padding, real priors.
    padded = make_sample([[[0., 0., 0., 0.]]] * 4, [[-1]] * 4)
    neck.set_context([make_sample(), padded, hand_sample()], x.shape)
    out = features(backbone, x)
    assert torch.equal(out[:2], plain[:2])
    assert not torch.allclose(out[2], plain[2])
    neck.set_context(None)
    assert torch.equal(features(backbone, x), plain)


def test_image_inputs():
    torch.manual_seed(0)
    backbone = make_backbone()
    x = torch.randn(2, 3, 32, 32)
    plain = features(backbone, x)
    neck = make_neck()
    neck.attach(backbone)
    neck.set_context([hand_sample(1), make_sample()])
    assert torch.equal(features(backbone, x), plain)
    set_gates(neck, 1.)
    out = features(backbone, x)
    assert backbone(x)[-1][0].shape == (2, 64, 1, 4, 4)
    assert not torch.allclose(out[0], plain[0])
    assert torch.equal(out[1], plain[1])
    maps = neck.attention_maps()
    assert maps[3].shape == (2, 1, 8, 8)
    assert torch.allclose(maps[3][0].sum(), torch.tensor(1.))
    assert torch.allclose(maps[3][0, 0, 1:3, 1:4].sum(), maps[3][0].sum())
    assert (maps[3][0, 0, 1:3, 1:4] > 0).all()


def test_bf16_autocast():
    torch.manual_seed(0)
    backbone = make_backbone()
    neck = make_neck(loss_attn=dict(type='AttentionKLLoss'))
    neck.attach(backbone)
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        neck.set_context(None)
        plain = features(backbone, x)
        neck.set_context([hand_sample(), make_sample()], x.shape)
        out = features(backbone, x)
        loss = neck.loss()['loss_topdown_attn']
    assert torch.equal(out, plain)
    (out.float().square().mean() + loss).backward()
    assert torch.isfinite(loss)
    assert all(
        torch.isfinite(p.grad).all() for p in neck.parameters()
        if p.grad is not None)
    assert neck.attns[0].gate.grad.abs().sum() > 0
    # bf16 tokens stay bf16 through a non-zero gate.
    set_gates(neck, 1.)
    tokens = torch.randn(2, 2 * 4 * 4, 32, dtype=torch.bfloat16)
    stage0 = torch.randn(2, 2 * 8 * 8, 32, dtype=torch.bfloat16)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = neck.modulate(0, tokens, (2, 4, 4), stage0, (2, 8, 8))
    assert out.dtype == torch.bfloat16
    assert torch.isfinite(out).all() and not torch.equal(out[0], tokens[0])


def test_attention_supervision_loss_and_implicit_variant():
    torch.manual_seed(0)
    sample = make_sample([[[0., 0., 8., 8.], [16., 16., 24., 24.]]] * 4,
                         [[OBJECT, HAND]] * 4)
    x = torch.randn(1, 3, 4, 32, 32)
    backbone = make_backbone()
    implicit = make_neck()
    implicit.attach(backbone)
    implicit.set_context([sample], x.shape)
    backbone(x)
    assert implicit.loss() == {}

    backbone = make_backbone()
    neck = make_neck(loss_attn=dict(type='AttentionKLLoss', loss_weight=2.))
    neck.attach(backbone)
    neck.set_context([sample, make_sample()], (2, 3, 4, 32, 32))
    backbone(torch.cat([x, x]))
    target = neck.attention_target()
    sel = neck.select(2, (2, 8, 8), torch.device('cpu'))
    # Hand cells get weight 1, object cells 0.5, rows sum to one; the
    # sample without priors has no target.
    hand = (sel.types[0] == HAND) & sel.valid[0]
    obj = (sel.types[0] == OBJECT) & sel.valid[0]
    assert torch.allclose(target[0][hand], 2 * target[0][obj][:hand.sum()])
    assert torch.allclose(target[0].sum(), torch.tensor(1.))
    assert target[1].sum() == 0
    loss = neck.loss()['loss_topdown_attn']
    attn = torch.stack(list(neck.attention.values()))[:, :1]
    expected = 2 * (target[:1] * (target[:1] + 1e-6).log() - target[:1] *
                    (attn + 1e-6).log()).sum(-1).mean()
    assert torch.allclose(loss, expected)
    loss.backward()
    assert neck.attns[0].q.weight.grad.abs().sum() > 0
    assert neck.type_embed.weight.grad[HAND].abs().sum() > 0


def test_batches_without_priors_give_every_parameter_a_gradient():
    # Distributed training needs a gradient for every parameter and the
    # same loss keys on every process, also for image batches without
    # priors.
    backbone = make_backbone()
    neck = make_neck(loss_attn=dict(type='AttentionKLLoss'))
    neck.attach(backbone)
    x = torch.randn(2, 3, 32, 32)
    plain = features(backbone, x)
    neck.set_context([make_sample(), make_sample()])
    out = features(backbone, x)
    assert torch.equal(out, plain)
    loss = neck.loss()['loss_topdown_attn']
    assert loss == 0
    (out.sum() + loss).backward()
    assert all(p.grad is not None for p in neck.parameters())


def test_degraded_priors():
    torch.manual_seed(0)
    grid, device = (2, 8, 8), torch.device('cpu')
    exact = make_neck()
    exact.set_context([hand_sample()], (1, 3, 4, 32, 32))
    exact_cells = exact.select(1, grid, device).index
    jittered = make_neck(prior_jitter=0.5)
    jittered.set_context([hand_sample()], (1, 3, 4, 32, 32))
    sel = jittered.select(1, grid, device)
    assert sel.valid.any()
    assert not torch.equal(sel.index, exact_cells)
    dropped = make_neck(prior_drop=1.)
    dropped.set_context([hand_sample()], (1, 3, 4, 32, 32))
    assert dropped.select(1, grid, device).index.shape == (1, 0)


def test_multi_view_batches_split_frames():
    neck = make_neck()
    boxes = [[[0., 0., 4., 4.]]] * 2 + [[[28., 28., 32., 32.]]] * 2
    neck.set_context([make_sample(boxes, [[HAND]] * 4)], (2, 3, 2, 32, 32))
    sel = neck.select(2, (1, 8, 8), torch.device('cpu'))
    assert sel.index[:, 0].tolist() == [0, 63]
    # A sample without priors in the batch: still split, and left alone.
    neck.set_context(
        [make_sample(), make_sample(boxes, [[HAND]] * 4)], (4, 3, 2, 32, 32))
    sel = neck.select(4, (1, 8, 8), torch.device('cpu'))
    assert sel.valid[:, 0].tolist() == [False, False, True, True]
    assert sel.index[2:, 0].tolist() == [0, 63]
    neck.set_context([make_sample(boxes, [[HAND]] * 4)] * 2, (4, 3, 2, 32, 32))
    with pytest.raises(ValueError, match='multiple'):
        neck.select(3, (1, 8, 8), torch.device('cpu'))


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
    with pytest.raises(ValueError, match='query_mode'):
        make_neck(query_mode='rows')


def test_demo_config_pipeline_priors_select_hand_tokens(tmp_path):
    """Real demo clips and prior files through the demo config's pipeline
    and preprocessor: the selected tokens cover the packed hand boxes."""
    register_all_modules()
    demo = load_tool('tools/data/make_demo_data.py')
    demo.make_kinetics(
        str(tmp_path / 'kinetics'), 0, demo.SCALES['tiny'], 64, 16)
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'topdown', 'mvit_xs_demo_topdown.py'))
    dataset_cfg = cfg.train_dataloader.dataset.datasets.demo_vid
    dataset_cfg.data_root = str(tmp_path / 'kinetics')
    dataset = DATASETS.build(dataset_cfg)
    batch = pseudo_collate([dataset[i] for i in range(2)])
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(batch, training=False)
    inputs, samples = data['inputs'], data['data_samples']
    assert inputs.shape == (2, 3, 8, 64, 64)
    model.neck.attach(model.backbone)
    model.neck.set_context(samples, inputs.shape)
    model.backbone(inputs)
    sel = model.neck.select(2, (4, 16, 16), torch.device('cpu'))
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
    assert set(model.neck.attention) == {1, 2}


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
        loss_attn=dict(type='AttentionKLLoss')),
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
    """The real recognizer with the neck, DDP over two gloo processes, one
    clip per process, so processes often differ in whether their clip has
    priors: every step must still reduce a
    gradient for every parameter and log the same loss keys."""
    config = tmp_path / 'toy_topdown.py'
    config.write_text(DIST_CONFIG.format(root=ROOT))
    proc = dist_train(config, tmp_path)
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    assert log.count('loss_topdown_attn: ') >= 6
    state = load_checkpoint_file(str(tmp_path / 'iter_6.pth'))['state_dict']
    # The gates started at zero and were trained.
    assert state['neck.attns.0.gate'].abs().sum() > 0
    assert state['neck.attns.1.gate'].abs().sum() > 0
