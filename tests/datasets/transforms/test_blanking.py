"""``BlankRegions``: paints exactly the pixels of the chosen prior boxes, so
the detail task's class is gone."""
import numpy as np
import pytest

from mvitx.datasets.demo.detail import CLASSES, make_detail_clip
from mvitx.datasets.transforms import BlankRegions
from mvitx.structures import HAND, OBJECT, PAD_TYPE, PERSON


def test_blanks_every_pixel_a_box_overlaps_in_its_frame():
    rng = np.random.default_rng(0)
    imgs = rng.integers(1, 256, (2, 12, 16, 3), dtype=np.uint8)
    boxes = np.array([
        [[2.5, 1., 5., 3.2], [0., 0., 16., 12.], [-3., 9.5, 1.5, 20.]],
        [[10., 4., 12., 6.], [0., 0., 4., 4.], [0., 0., 0., 0.]],
    ], np.float32)
    types = np.array([[HAND, PERSON, OBJECT], [OBJECT, PAD_TYPE, PAD_TYPE]])
    out = BlankRegions(
        box_types=(HAND, OBJECT), fill=(7, 8, 9))(
            dict(imgs=imgs, prior_bboxes=boxes, prior_box_types=types))
    expected = np.zeros((2, 12, 16), bool)
    expected[0, 1:4, 2:5] = True  # partly covered pixels count
    expected[0, 9:12, 0:2] = True  # clipped to the frame
    expected[1, 4:6, 10:12] = True  # the person box and padding stay
    blanked = (out['imgs'] == [7, 8, 9]).all(-1)
    np.testing.assert_array_equal(blanked, expected)
    np.testing.assert_array_equal(out['imgs'][~expected], imgs[~expected])


def test_blanked_detail_clips_no_longer_depend_on_the_class():
    clips = [
        make_detail_clip(np.random.default_rng(4), label)
        for label in range(len(CLASSES))
    ]
    blank = BlankRegions(box_types=(OBJECT, ))
    outs = [
        blank(
            dict(
                imgs=frames,
                prior_bboxes=priors['boxes'],
                prior_box_types=priors['box_types']))['imgs']
        for frames, priors in clips
    ]
    assert not np.array_equal(clips[0][0], clips[1][0])
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    # Blanking nothing leaves the clip as it is.
    frames, priors = clips[0]
    kept = BlankRegions(box_types=())(
        dict(
            imgs=frames,
            prior_bboxes=priors['boxes'],
            prior_box_types=priors['box_types']))
    np.testing.assert_array_equal(kept['imgs'], frames)


def test_frame_count_mismatch_raises():
    with pytest.raises(ValueError, match='2 frames of prior boxes'):
        BlankRegions()(
            dict(
                imgs=np.zeros((3, 4, 4, 3), np.uint8),
                prior_bboxes=np.zeros((2, 1, 4), np.float32),
                prior_box_types=np.zeros((2, 1), np.int64)))
