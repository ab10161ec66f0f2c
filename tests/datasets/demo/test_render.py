"""``mvitx.datasets.demo.render``: the boxes it returns are the tight boxes
of the pixels it draws."""
import numpy as np

from mvitx.datasets.demo.render import (HAND_COLOR, hand_pose, item_rng,
                                        mask_box, render, sample_object)


def test_render_boxes_are_tight_over_drawn_pixels():
    size = 64
    rng = item_rng(0, 'video', 'train', 3, 0)
    obj = sample_object(rng, 'star', size, (0.15, 0.2))
    centers = np.array([[20., 30.], [24., 30.], [28., 31.]])
    # The hand overlaps the object's right side, hiding part of it.
    poses = np.stack([
        hand_pose(c + [8., 0.], np.pi, openness, 1.)
        for c, openness in zip(centers, (0., 0.5, 1.))
    ])
    background = np.zeros((size, size, 3), np.uint8)
    frames, obj_boxes, hand_boxes = render(background, obj, centers, poses)
    assert frames.shape == (3, size, size, 3)
    for t, frame in enumerate(frames):
        hand = (frame == HAND_COLOR).all(-1)
        drawn = frame.any(-1) & ~hand
        np.testing.assert_array_equal(hand_boxes[t], mask_box(hand))
        np.testing.assert_array_equal(obj_boxes[t], mask_box(drawn))

    # Without a hand there are no hand boxes, and the frames differ.
    bare, bare_boxes, no_hand = render(background, obj, centers)
    assert no_hand is None
    assert not np.array_equal(bare, frames)
    np.testing.assert_array_equal(bare_boxes[0], mask_box(bare[0].any(-1)))


def test_item_rng_depends_on_the_item_only():
    first = item_rng(0, 'image', 'val', 2, 5).random(4)
    item_rng(0, 'image', 'val', 2, 6).random(100)  # another item in between
    np.testing.assert_array_equal(
        item_rng(0, 'image', 'val', 2, 5).random(4), first)
    assert not np.array_equal(
        item_rng(0, 'video', 'val', 2, 5).random(4), first)
