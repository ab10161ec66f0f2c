import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mvitx.datasets.transforms import (CenterCrop, ColorJitter, Flip,
                                       RandAugment, RandomErasing,
                                       RandomResizedCrop, RandomShortSideScale,
                                       Resize, ThreeCrop)


class GeometricRandAugment(RandAugment):
    """RandAugment restricted to its geometric ops (photometric ops change
    the painted pixel values the property test looks for)."""

    OPS = ('rotate', 'shear_x', 'shear_y', 'translate_x', 'translate_y')


STEPS = dict(
    rrc=lambda: RandomResizedCrop(area_range=(0.3, 1.0)),
    resize=lambda: Resize(scale=(48, 40)),
    resize_keep=lambda: Resize(scale=(-1, 40), keep_ratio=True),
    jitter=lambda: RandomShortSideScale(min_size=32, max_size=72),
    center=lambda: CenterCrop(crop_size=(40, 36)),
    hflip=lambda: Flip(flip_ratio=1.0),
    vflip=lambda: Flip(flip_ratio=1.0, direction='vertical'),
    randaug=lambda: GeometricRandAugment(
        num_ops=1, magnitude=5, prob=1.0, fill=(0, 0, 0)),
)


def painted_bbox(frame, thresh=160):
    ys, xs = np.nonzero(frame[..., 0] > thresh)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])


@settings(max_examples=80, deadline=None)
@given(
    h=st.integers(40, 64),
    w=st.integers(40, 64),
    box=st.tuples(
        st.floats(0, 0.6), st.floats(0, 0.6), st.floats(0.25, 0.4),
        st.floats(0.25, 0.4)),
    chain=st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=4),
    seed=st.integers(0, 2**16))
def test_boxes_and_keypoints_follow_the_pixels(h, w, box, chain, seed):
    np.random.seed(seed)
    fx, fy, fw, fh = box
    x1, y1 = int(fx * w), int(fy * h)
    x2, y2 = x1 + max(int(fw * w), 8), y1 + max(int(fh * h), 8)
    imgs = np.zeros((2, h, w, 3), np.uint8)
    imgs[:, y1:y2, x1:x2] = 255
    xyxy = np.array([x1, y1, x2, y2], np.float32)
    centre = [(x1 + x2) / 2, (y1 + y2) / 2, 1.0]
    results = dict(
        imgs=imgs,
        img_shape=(h, w),
        gt_bboxes=xyxy[None],
        proposals=xyxy[None].copy(),
        prior_bboxes=np.tile(xyxy, (2, 1, 1)),
        prior_keypoints=np.tile(np.array(centre, np.float32), (2, 1, 1, 1)))
    for name in chain:
        results = STEPS[name]().transform(results)
    out = results['imgs']
    gt = results['gt_bboxes'][0]
    np.testing.assert_allclose(results['proposals'][0], gt)
    np.testing.assert_allclose(results['prior_bboxes'][1, 0], gt)
    assert results['img_shape'] == out.shape[1:3]
    painted = painted_bbox(out[1])
    rotated = 'randaug' in chain
    if painted is None:
        # The crops cut the box away (a rotated box's bounding box may
        # still overlap the frame where the rectangle itself does not).
        assert rotated or min(gt[2] - gt[0], gt[3] - gt[1]) < 2
        return
    if rotated:
        # The box of a rotated (and clipped) rectangle over-approximates
        # it: it must enclose the painted pixels.
        assert np.all(gt[:2] <= painted[:2] + 2)
        assert np.all(gt[2:] >= painted[2:] - 2)
    else:
        # Crops, resizes and flips keep the box tight.
        np.testing.assert_allclose(gt, painted, atol=2)
    kp = results['prior_keypoints'][1, 0, 0]
    if kp[2] > 0:  # still visible: the centre lies on the rectangle
        assert painted[0] - 1 <= kp[0] <= painted[2] + 1
        assert painted[1] - 1 <= kp[1] <= painted[3] + 1


def test_flip_swaps_keypoints_and_records():
    kps = np.zeros((1, 1, 3, 3), np.float32)
    kps[0, 0, :, 0] = [2, 5, 9]  # left, centre, right
    kps[..., 2] = 1
    results = dict(
        imgs=np.zeros((1, 8, 10, 3), np.uint8),
        prior_keypoints=kps,
        keypoint_flip_pairs=[(0, 2)])
    out = Flip(flip_ratio=1.0).transform(results)
    # mirrored x = 10 - x, and the left/right ids swap
    np.testing.assert_allclose(out['prior_keypoints'][0, 0, :, 0], [1, 5, 8])
    assert out['flip'] and out['flip_direction'] == 'horizontal'
    kept = Flip(flip_ratio=0.0).transform(dict(imgs=np.zeros((1, 4, 4, 3))))
    assert kept['flip'] is False
    assert 'prior_keypoints' not in kept


@pytest.mark.parametrize('direction', ['horizontal', 'vertical'])
def test_flip_mirrors_3d_poses_only_horizontally(direction):
    kps3d = np.zeros((1, 1, 3, 4), np.float32)
    kps3d[0, 0, :, :3] = [[-1, 0, 5], [0, 1, 5], [2, 0, 6]]  # left, root...
    kps3d[..., 3] = [0.5, 1, 0.9]
    results = dict(
        imgs=np.zeros((1, 8, 10, 3), np.uint8),
        prior_keypoints3d=kps3d,
        keypoint3d_flip_pairs=[(0, 2)])
    out = Flip(flip_ratio=1.0, direction=direction).transform(results)
    if direction == 'vertical':
        np.testing.assert_array_equal(out['prior_keypoints3d'], kps3d)
        return
    # x negated, then the left/right joints (and their scores) swap
    np.testing.assert_allclose(
        out['prior_keypoints3d'][0, 0],
        [[-2, 0, 6, 0.9], [0, 1, 5, 1], [1, 0, 5, 0.5]],
        rtol=1e-6)


def test_crop_and_resize_records():
    results = dict(imgs=np.zeros((3, 40, 60, 3), np.uint8))
    results = CenterCrop(crop_size=(30, 20)).transform(results)
    np.testing.assert_array_equal(results['crop_bbox'], [15, 10, 45, 30])
    results = Resize(scale=(60, 10)).transform(results)
    np.testing.assert_allclose(results['scale_factor'], [2.0, 0.5])
    assert results['imgs'].shape == (3, 10, 60, 3)
    results = Resize(scale=(-1, 20), keep_ratio=True).transform(results)
    assert results['img_shape'] == (20, 120)


def test_three_crop_views_and_rejects_boxes():
    imgs = np.arange(
        60, dtype=np.uint8)[None,
                            None, :, None].repeat(3, -1).repeat(20, 1).repeat(
                                2, 0)  # (2, 20, 60, 3), x-gradient
    out = ThreeCrop(crop_size=20).transform(dict(imgs=imgs))
    assert out['imgs'].shape == (6, 20, 20, 3) and out['num_crops'] == 3
    assert [out['imgs'][2 * v, 0, 0, 0] for v in range(3)] == [0, 20, 40]
    with pytest.raises(ValueError, match='gt_bboxes'):
        ThreeCrop(crop_size=20).transform(
            dict(imgs=imgs, gt_bboxes=np.zeros((1, 4), np.float32)))


@pytest.mark.parametrize('transform', [
    ColorJitter(brightness=0.5, contrast=0.5, saturation=0.5, hue=0.2),
    RandAugment(num_ops=3, prob=1.0),
    RandomErasing(erase_prob=1.0),
])
@pytest.mark.parametrize('t', [1, 4])
def test_photometric_same_for_every_frame(transform, t):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    imgs = frame.repeat(t, 0)
    np.random.seed(3)
    changed = False
    for _ in range(5):
        out = transform.transform(dict(imgs=imgs.copy()))['imgs']
        assert out.shape == imgs.shape and out.dtype == np.uint8
        assert all(np.array_equal(out[0], f) for f in out)
        changed |= not np.array_equal(out, imgs)
    assert changed


def test_random_erasing_records_box():
    np.random.seed(0)
    imgs = np.zeros((2, 32, 32, 3), np.uint8)
    out = RandomErasing(
        erase_prob=1.0, mode='const').transform(dict(imgs=imgs))
    x1, y1, x2, y2 = out['erase_bbox']
    region = out['imgs'][:, y1:y2, x1:x2]
    assert np.all(region == region[0, 0, 0])
    assert not imgs.any()  # the input buffer is untouched


def test_crop_hides_keypoints_outside_and_clips_boxes():
    kps = np.array([[[[5, 5, 0.9], [35, 20, 0.8]]]], np.float32)
    results = dict(
        imgs=np.zeros((1, 40, 40, 3), np.uint8),
        prior_keypoints=kps,
        gt_bboxes=np.array([[0, 0, 30, 30]], np.float32))
    out = CenterCrop(crop_size=20).transform(results)  # x, y in [10, 30)
    np.testing.assert_allclose(out['prior_keypoints'][0, 0],
                               [[-5, -5, 0], [25, 10, 0]])
    kept = CenterCrop(crop_size=30).transform(
        dict(imgs=np.zeros((1, 40, 40, 3), np.uint8), prior_keypoints=kps))
    np.testing.assert_allclose(kept['prior_keypoints'][0, 0, 1], [30, 15, 0.8])
    np.testing.assert_allclose(out['gt_bboxes'], [[0, 0, 20, 20]])
