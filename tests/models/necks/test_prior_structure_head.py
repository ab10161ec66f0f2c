import math

import pytest
import torch

from mvitx.models.backbones import MViT
from mvitx.models.necks import PriorStructureHead, TopDownModulation
from mvitx.models.necks.prior_heatmaps import frame_cells
from mvitx.models.necks.prior_structure_head import (keypoint_heatmaps,
                                                     pose3d_targets)
from mvitx.registry import MODELS
from mvitx.structures import HAND
from mvitx.utils import register_all_modules
from tests.models.necks.test_topdown import make_sample

#: A 3-joint pose; the head sees it with random shifts and scales.
POSE = torch.tensor([[0., 0., 0.], [1., 2., 0.], [-1., 0., 3.]])


def make_neck(**head):
    torch.manual_seed(0)
    cfg = dict(type='PriorStructureHead', keypoint_indices=(0, 1))
    cfg.update(head)
    return TopDownModulation(
        stage0_channels=32,
        block_indices=(1, ),
        block_channels=(32, ),
        max_tokens=64,
        box_types=(HAND, ),
        structure_head=cfg)


def pose_sample(keypoints3d=None, num_frames=4):
    """A 32x32 clip with a hand box (cells rows 1-4, columns 1-4) and one
    person with keypoint 0 at (9, 6) and keypoint 1 at (14, 13), inside the
    box; ``keypoints3d`` ``(T, P3, K3, 4)`` if given."""
    keypoints = [[[[9., 6., 1.], [14., 13., 1.]]]] * num_frames
    sample = make_sample(
        [[[4., 4., 20., 20.]]] * num_frames, [[HAND]] * num_frames,
        keypoints=keypoints)
    if keypoints3d is not None:
        sample.priors.keypoints3d = keypoints3d
    return sample


def poses3d(shift=(0., 0., 0.), scale=1., num_frames=4):
    """:data:`POSE` shifted and scaled, score 1, ``(T, 1, 3, 4)``."""
    xyz = POSE * scale + torch.tensor(shift)
    joints = torch.cat([xyz, torch.ones(3, 1)], -1)
    return joints.expand(num_frames, 1, 3, 4).clone()


def run(neck, samples, backbone=None):
    """The neck's losses (not the statistics it returns for the log) and
    the backbone's modulation output."""
    backbone = backbone or MViT(arch='xs')
    x = torch.randn(len(samples), 3, 4, 32, 32)
    _, modulation = backbone(x, neck.make_context(samples, x.shape))
    losses = neck.loss(modulation)
    return {k: v for k, v in losses.items() if 'loss' in k}, modulation


def test_heatmap_loss_is_the_kl_of_each_keypoint_and_temporal_cell():
    neck = make_neck(min_coverage=0.)
    losses, modulation = run(neck, [pose_sample(), make_sample()])
    assert set(losses) == {'loss_topdown_struct'}
    sel, grid = modulation.selection, modulation.stage0_thw
    head = neck.structure_head
    tokens = modulation.stage0_tokens.gather(
        1, sel.index[..., None].expand(-1, -1, 32))
    _, logits = head(tokens)
    t = sel.index // 64
    # Keypoint 0 at (9, 6) and 1 at (14, 13) by explicit loops.
    kls = []
    for j, (kx, ky) in enumerate([(9., 6.), (14., 13.)]):
        for cell in range(grid[0]):
            members = (sel.valid[0] & (t[0] == cell)).nonzero()[:, 0]
            heat = []
            for k in members:
                y, x = int(sel.index[0, k]) // 8 % 8, int(sel.index[0, k]) % 8
                mass = [
                    math.erf((edge - c) / (2 * math.sqrt(2)))
                    for edge, c in ((4 * x + 4, kx), (4 * x, kx),
                                    (4 * y + 4, ky), (4 * y, ky))
                ]
                heat.append((mass[0] - mass[1]) * (mass[2] - mass[3]) / 4)
            target = torch.tensor(heat) / sum(heat)
            log_prob = logits[0, members, j].log_softmax(0)
            kls.append((target * (target.log() - log_prob)).sum())
    assert torch.allclose(losses['loss_topdown_struct'],
                          torch.stack(kls).mean())


def test_structure_loss_reaches_the_patch_embedding_of_selected_tokens():
    neck = make_neck()
    backbone = MViT(arch='xs')
    losses, modulation = run(neck, [pose_sample()], backbone)
    modulation.stage0_tokens.retain_grad()
    losses['loss_topdown_struct'].backward()
    assert backbone.patch_embed.proj.weight.grad.abs().sum() > 0
    touched = modulation.stage0_tokens.grad.abs().sum(-1)[0] > 0
    sel = modulation.selection
    selected = torch.zeros_like(touched)
    selected[sel.index[0][sel.valid[0]]] = True
    assert touched.any() and torch.equal(touched, selected)
    # Only the auxiliary path: the modulation's gates got nothing.
    assert neck.attns[0].gate.grad is None


def test_keypoints_outside_the_selected_tokens_give_no_target():
    neck = make_neck()
    far = make_sample(
        [[[4., 4., 8., 8.]]] * 4, [[HAND]] * 4,
        keypoints=[[[[28., 28., 1.], [30., 2., 1.]]]] * 4)
    losses, _ = run(neck, [far])
    assert losses['loss_topdown_struct'] == 0
    losses['loss_topdown_struct'].backward()
    assert all(p.grad is not None for p in neck.structure_head.parameters())


def test_zero_weight_is_safe():
    neck = make_neck(num_keypoints3d=3, loss_weight=0., loss_weight3d=0.)
    backbone = MViT(arch='xs')
    losses, _ = run(neck, [pose_sample(poses3d())], backbone)
    assert losses['loss_topdown_struct'] == 0
    assert losses['loss_topdown_struct3d'] == 0
    sum(losses.values()).backward()
    grads = [p.grad for p in neck.structure_head.parameters()]
    assert all(
        g is not None and torch.equal(g, torch.zeros_like(g)) for g in grads)
    assert torch.isfinite(backbone.patch_embed.proj.weight.grad).all()


def test_pose3d_targets_are_translation_and_scale_free():
    keypoints3d = torch.stack([poses3d((5., -2., 40.), 3.), poses3d()])
    keypoints3d[1, 1, 0, 2, 3] = 0  # one joint below the threshold
    keypoints3d[1, 2:, 0, :2, 3] = 0  # a pose of one joint is no pose
    target, has_target = pose3d_targets(
        keypoints3d, frame_cells(torch.tensor([4, 4]), 4, 2), 2, 0.3)
    centred = POSE - POSE.mean(0)
    expected = centred / centred.square().sum(-1).mean().sqrt()
    assert torch.allclose(target[0, 0], expected.expand(2, 3, 3), atol=1e-6)
    assert has_target[0].all()
    # Cell 0 of sample 1: frame 0 has all joints, frame 1 two of them.
    two = POSE[:2] - POSE[:2].mean(0)
    two = two / two.square().sum(-1).mean().sqrt()
    assert torch.allclose(target[1, 0, 0, :2], (expected[:2] + two) / 2)
    assert torch.allclose(target[1, 0, 0, 2], expected[2])
    assert has_target[1, 0, 0].all() and not has_target[1, 0, 1].any()


def test_pose3d_loss_from_constructed_3d_priors():
    neck = make_neck(num_keypoints3d=3)
    backbone = MViT(arch='xs')
    losses, _ = run(neck, [pose_sample(poses3d()), make_sample()], backbone)
    loss = losses['loss_topdown_struct3d']
    assert loss > 0
    loss.backward()
    assert neck.structure_head.pose3d.weight.grad.abs().sum() > 0
    assert backbone.patch_embed.proj.weight.grad.abs().sum() > 0
    # The same clip, its poses in other units and places: the same loss.
    torch.manual_seed(1)
    moved, _ = run(neck,
                   [pose_sample(poses3d((1., 2., 3.), 1000.)),
                    make_sample()], backbone)
    torch.manual_seed(1)
    again, _ = run(neck, [pose_sample(poses3d()), make_sample()], backbone)
    assert torch.allclose(moved['loss_topdown_struct3d'],
                          again['loss_topdown_struct3d'])
    # Without 3D keypoints the term is a zero; a head without a 3D term
    # ignores them.
    losses, _ = run(neck, [pose_sample()], backbone)
    assert losses['loss_topdown_struct3d'] == 0
    losses, _ = run(make_neck(), [pose_sample(poses3d())], backbone)
    assert set(losses) == {'loss_topdown_struct'}


@pytest.mark.parametrize('sample, message', [
    (make_sample([[[4., 4., 20., 20.]]], [[HAND]],
                 keypoints=[[[[9., 6., 1.]]]]),
     r'predicts keypoints \[0, 1\], but the priors have 1'),
    (pose_sample(torch.zeros(4, 1, 5, 4)), r'needs 3 joints'),
    (pose_sample(torch.zeros(4, 2, 3, 4)), r'at most the 1 persons'),
])
def test_priors_that_do_not_fit_the_head_fail(sample, message):
    with pytest.raises(ValueError, match=message):
        make_neck(num_keypoints3d=3).make_context([sample])


def test_build_from_registry():
    register_all_modules()
    head = MODELS.build(
        dict(type='PriorStructureHead', in_channels=8, keypoint_indices=(3, )))
    assert isinstance(head, PriorStructureHead)
    assert head.loss_keys == ('loss_topdown_struct', )
    assert make_neck().structure_head.mlp[1].in_features == 32
    with pytest.raises(ValueError, match='keypoint_indices'):
        PriorStructureHead(in_channels=8, keypoint_indices=())


def test_heatmaps_of_invisible_keypoints_are_zero():
    keypoints = torch.tensor([[[[[9., 6., 1.], [14., 13., 0.2]]]]])
    positions = torch.tensor([[[0, 1, 2], [0, 3, 3]]])
    heat = keypoint_heatmaps(keypoints, torch.tensor([[0]]), positions,
                             (4., 4.), 2., 0.3)
    assert heat.shape == (1, 1, 2, 2)
    assert heat[0, 0, 0, 0] > heat[0, 0, 0, 1] > 0
    assert (heat[0, 0, 1] == 0).all()
