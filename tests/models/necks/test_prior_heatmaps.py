"""Heatmap targets of the top-down neck: the Gaussian mass per token, the
structure head's keypoint heatmaps and the attention target, on synthetic
priors with known positions, also after the real flip and crop
transforms."""
import math

import numpy as np
import pytest
import torch

from mvitx.datasets.transforms.formatting import PackActionInputs
from mvitx.datasets.transforms.processing import CenterCrop, Flip
from mvitx.models.necks import ModulationOutput, TopDownModulation
from mvitx.models.necks.prior_heatmaps import (frame_cells,
                                               gaussian_token_mass,
                                               token_positions)
from mvitx.models.necks.prior_structure_head import keypoint_heatmaps
from mvitx.structures import HAND

CPU = torch.device('cpu')
#: 'demo' keypoints: 2-5 are fingertips, (2, 5) and (3, 4) mirror images.
FLIP_PAIRS = [(2, 5), (3, 4)]
FINGERTIPS = (2, 3, 4, 5)
#: Fingertips (x, y) of frames 0-1 (temporal cell 0) and 2-3 (cell 1) of a
#: 32x32 clip; none on a border of the 4-pixel cells.
TIPS = torch.tensor([[[5.5, 9.1], [13.2, 22.6], [26.9, 10.3], [18.7, 29.4]],
                     [[10.1, 17.7], [22.4, 14.9], [6.3, 26.2], [29.5, 5.8]]])


def clip_priors():
    """Pipeline priors of a 4-frame 32x32 clip: a hand box over the whole
    frame and one person with the fingertips of :data:`TIPS` (ids 0 and 1
    unused, score 0)."""
    keypoints = np.zeros((4, 1, 6, 3), np.float32)
    for frame in range(4):
        keypoints[frame, 0, 2:, :2] = TIPS[frame // 2].numpy()
        keypoints[frame, 0, 2:, 2] = 1
    return dict(
        prior_bboxes=np.array([[[0., 0., 32., 32.]]] * 4, np.float32),
        prior_box_types=np.full((4, 1), HAND, np.int8),
        prior_box_scores=np.ones((4, 1), np.float32),
        prior_keypoints=keypoints,
        keypoint_flip_pairs=list(FLIP_PAIRS))


def pipeline_sample(priors, transforms=(), hw=(32, 32)):
    """``priors`` of a black clip through the real ``transforms`` and
    ``PackActionInputs``."""
    frames = len(priors['prior_bboxes'])
    results = dict(
        imgs=np.zeros((frames, *hw, 3), np.uint8),
        img_shape=hw,
        modality='video',
        clip_len=frames,
        **priors)
    for transform in transforms:
        results = transform(results)
    return PackActionInputs()(results)['data_samples']


def make_neck(**kwargs):
    cfg = dict(
        stage0_channels=32,
        block_indices=(1, ),
        block_channels=(32, ),
        max_tokens=1000,
        box_types=(HAND, ),
        structure_head=dict(
            type='PriorStructureHead', keypoint_indices=FINGERTIPS))
    cfg.update(kwargs)
    return TopDownModulation(**cfg)


def modulation_of(neck, sample, grid):
    """What a backbone returns for ``sample`` on a first-stage ``grid``,
    without running one (the targets need no tokens)."""
    h, w = sample.metainfo['img_shape']
    context = neck.make_context([sample], (1, 3, 4, h, w))
    return ModulationOutput(grid, context.select(1, grid, CPU), {}, None,
                            context)


def on_grid(values, modulation):
    """``(N, ..., K)`` values of the selected tokens scattered onto the
    first-stage grid: ``(N, ..., T0, H0, W0)``."""
    sel, grid = modulation.selection, modulation.stage0_thw
    index = sel.index.view(sel.index.shape[0], *[1] * (values.ndim - 2), -1)
    flat = values.new_zeros(*values.shape[:-1], math.prod(grid))
    flat.scatter_add_(-1, index.expand_as(values),
                      values * sel.valid.view_as(index))
    return flat.unflatten(-1, grid)


def fingertip_heat(neck, modulation):
    """``(J, T0, H0, W0)`` heatmaps of the structure head's keypoints."""
    sel, grid = modulation.selection, modulation.stage0_thw
    context = modulation.context
    priors = context.priors(1, CPU)
    cell_hw = (context.input_hw[0] / grid[1], context.input_hw[1] / grid[2])
    heat = keypoint_heatmaps(
        priors.keypoints,
        frame_cells(priors.num_frames, priors.keypoints.shape[1], grid[0]),
        token_positions(sel.index, grid), cell_hw, neck.structure_head.sigma,
        neck.structure_head.keypoint_score_thr).sum(1)
    return on_grid(heat, modulation)[0]


def peaks(heat):
    """``(J, T0, 2)`` ``(row, column)`` of each map's maximum."""
    flat = heat.flatten(-2).argmax(-1)
    return torch.stack([flat // heat.shape[-1], flat % heat.shape[-1]], -1)


def tip_cells(tips):
    """``(J, T0, 2)`` ``(row, column)`` cells of ``(T0, J, 2)`` ``(x, y)``
    keypoints."""
    return (tips.flip(-1) // 4).long().transpose(0, 1)


def target_grid(neck, sample, grid):
    """The attention target of ``sample`` on the first-stage grid."""
    modulation = modulation_of(neck, sample, grid)
    return on_grid(neck.attention_target(modulation), modulation)


def test_frame_cells_and_token_positions():
    cells = frame_cells(torch.tensor([4, 2, 0]), 4, 2)
    assert cells.tolist() == [[0, 0, 1, 1], [0, 1, 2, 2], [2, 2, 2, 2]]
    index = torch.arange(2 * 3 * 5)[None]
    t, y, x = token_positions(index, (2, 3, 5))[0].unbind(-1)
    assert torch.equal(t * 15 + y * 5 + x, index[0])
    assert y.max() == 2 and x.max() == 4


def test_gaussian_mass_is_the_integral_over_each_cell():
    gen = torch.Generator().manual_seed(0)
    centers = torch.rand(1, 2, 3, 2, generator=gen) * torch.tensor([20., 12.])
    sigmas = 0.5 + torch.rand(1, 2, 3, 2, generator=gen) * 3
    weights = torch.tensor([[[1., 0.5, 0.], [2., 1., 1.]]])
    grid, cell_hw = (2, 3, 5), (4., 4.)
    index = torch.arange(math.prod(grid))[None]
    mass = gaussian_token_mass(centers, sigmas, weights,
                               frame_cells(torch.tensor([2]), 2, 2),
                               token_positions(index, grid), cell_hw)
    # A midpoint sum of the density at 0.05 pixels, token by token.
    step = 0.05
    pix = (torch.arange(0, 4, step) + step / 2).double()
    for r in range(3):
        for k, (t, y, x) in enumerate(token_positions(index, grid)[0]):
            cx, cy = centers[0, t, r].double()
            sx, sy = sigmas[0, t, r].double()
            px, py = pix + 4 * x, pix + 4 * y
            density_x = torch.exp(-(px - cx)**2 / (2 * sx**2)) / (
                sx * math.sqrt(2 * math.pi))
            density_y = torch.exp(-(py - cy)**2 / (2 * sy**2)) / (
                sy * math.sqrt(2 * math.pi))
            expected = weights[0, t, r] * density_x.sum() * (
                density_y.sum() * step * step)
            assert abs(mass[0, r, k] - expected) < 1e-4


def test_keypoint_heatmaps_peak_at_the_tokens_that_contain_them():
    neck = make_neck()
    modulation = modulation_of(neck, pipeline_sample(clip_priors()), (2, 8, 8))
    heat = fingertip_heat(neck, modulation)
    assert torch.equal(peaks(heat), tip_cells(TIPS))
    # Two frames per temporal cell; sigma = 2 pixels puts 40 to 70 % of a
    # frame's mass in the keypoint's cell, at most 11 % outside the frame.
    assert (heat.amax((-2, -1)) > 0.8).all()
    total = heat.sum((-2, -1))
    assert (total > 1.75).all() and (total <= 2 + 1e-5).all()


def test_flip_mirrors_the_keypoint_heatmaps_and_swaps_left_and_right():
    neck = make_neck()
    grid = (2, 8, 8)
    heat = fingertip_heat(
        neck, modulation_of(neck, pipeline_sample(clip_priors()), grid))
    flipped = fingertip_heat(
        neck,
        modulation_of(neck,
                      pipeline_sample(clip_priors(), [Flip(flip_ratio=1.)]),
                      grid))
    # Fingertip 2 of the flipped clip is the mirror image of fingertip 5.
    swap = [FINGERTIPS.index(j) for j in (5, 4, 3, 2)]
    assert torch.allclose(flipped, heat[swap].flip(-1), atol=1e-6)
    expected = tip_cells(TIPS[:, swap])
    expected[..., 1] = 7 - expected[..., 1]
    assert torch.equal(peaks(flipped), expected)


def test_crop_shifts_the_keypoint_heatmaps():
    neck = make_neck()
    heat = fingertip_heat(
        neck, modulation_of(neck, pipeline_sample(clip_priors()), (2, 8, 8)))
    # A 24 (w) x 16 (h) centre crop starts at x=4, y=8: one cell right and
    # two down, so the first-stage grid becomes 2x4x6.
    sample = pipeline_sample(clip_priors(), [CenterCrop((24, 16))])
    assert sample.metainfo['img_shape'] == (16, 24)
    cropped = fingertip_heat(neck, modulation_of(neck, sample, (2, 4, 6)))
    x, y = TIPS.unbind(-1)
    inside = ((x > 4) & (x < 28) & (y > 8) & (y < 24)).T  # (J, T0)
    assert inside.any() and not inside.all()
    window = heat[:, :, 2:6, 1:7]
    assert torch.allclose(cropped[inside], window[inside], atol=1e-6)
    # Keypoints that left the frame have no heat.
    assert (cropped[~inside] == 0).all()
    expected = tip_cells(TIPS) - torch.tensor([2, 1])
    assert torch.equal(peaks(cropped)[inside], expected[inside])


def keypoint_centred_sample():
    """A 64x64 image: a 24-pixel hand box centred on fingertip 2, whose
    4-pixel window is also a region."""
    keypoints = np.zeros((1, 1, 6, 3), np.float32)
    keypoints[0, 0, 2] = [30.5, 34.5, 1.]
    priors = dict(
        prior_bboxes=np.array([[[18.5, 22.5, 42.5, 46.5]]], np.float32),
        prior_box_types=np.full((1, 1), HAND, np.int8),
        prior_box_scores=np.ones((1, 1), np.float32),
        prior_keypoints=keypoints,
        keypoint_flip_pairs=list(FLIP_PAIRS))
    return pipeline_sample(priors, hw=(64, 64))


def test_attention_target_is_sharp_around_a_keypoint():
    sample = keypoint_centred_sample()
    entropies = []
    for temperature in (0.25, 0.5, 1., 1e3):
        neck = make_neck(
            keypoint_indices=(2, ),
            keypoint_window=4.,
            target_temperature=temperature)
        modulation = modulation_of(neck, sample, (1, 16, 16))
        target = neck.attention_target(modulation)
        num_tokens = int(modulation.selection.valid.sum())
        assert num_tokens == 7 * 7  # rows 5-11, columns 4-10
        assert torch.allclose(target.sum(), torch.tensor(1.))
        peak = modulation.selection.index[0, target[0].argmax()]
        assert peak == (34 // 4) * 16 + 30 // 4
        entropies.append(float(-torch.xlogy(target, target).sum()))
    assert entropies == sorted(entropies)
    # Temperature 0.5 (the default): well below log(49) = 3.89 nats; a
    # very high temperature approaches the uniform target.
    assert entropies[1] < 0.5 * math.log(49)
    assert entropies[-1] > 0.99 * math.log(49)


def test_attention_target_follows_flip_and_crop():
    neck = make_neck(keypoint_indices=FINGERTIPS, keypoint_window=4.)
    priors = clip_priors()
    # A hand box inside the crop below.
    priors['prior_bboxes'][:] = [8.5, 10.5, 19.5, 21.5]
    grid = (2, 8, 8)
    target = target_grid(neck, pipeline_sample(priors), grid)
    flipped = target_grid(neck, pipeline_sample(priors, [Flip(flip_ratio=1.)]),
                          grid)
    assert torch.allclose(flipped, target.flip(-1), atol=1e-6)
    # Keypoint windows that a crop would clip change the target: keep the
    # fingertips whose windows lie inside the crop (6 < x < 26,
    # 10 < y < 22), ids 2 and 3 of frames 2 and 3.
    priors['prior_keypoints'][..., 2] = 0
    priors['prior_keypoints'][2:, 0, 2:4, 2] = 1
    target = target_grid(neck, pipeline_sample(priors), grid)
    crop = CenterCrop((24, 16))
    cropped = target_grid(neck, pipeline_sample(priors, [crop]), (2, 4, 6))
    assert target[..., 2:6, 1:7].sum() == pytest.approx(1.)
    assert torch.allclose(cropped, target[..., 2:6, 1:7], atol=1e-6)
