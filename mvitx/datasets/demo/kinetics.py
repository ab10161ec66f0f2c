"""The Kinetics-style part of the demo data: videos whose class needs the
object *and* its motion (which shape slides, whether an object rises or
falls, whether the hand next to it opens, closes, turns up or turns down),
each with its exact object/hand/person boxes and keypoints as a prior file
(:mod:`mvitx.datasets.prior_store`)."""
import csv
import json
import os
import os.path as osp
from typing import Optional

import numpy as np

from ..prior_store import BOX_TYPES, save_priors
from .render import (FINGER_OPEN, FPS, GENERATOR, HAND_COLOR, HAND_GAP,
                     HOLD_OPENNESS, KEYPOINT_FLIP_PAIRS, KEYPOINT_NAMES,
                     PALM_RADIUS, SHAPES, TURN_ANGLE, VIDEO_SPLITS, hand_pose,
                     item_rng, render, sample_background, sample_object,
                     write_mp4, youtube_id)

#: Video classes, sorted: (name, motion, shape or None for any shape,
#: reversed). A reversed class shows exactly the frames of its partner
#: backwards.
VIDEO_CLASSES = (
    ('circle slides', 'slide', 'circle', False),
    ('hand closes', 'open', None, True),
    ('hand opens', 'open', None, False),
    ('hand turns down', 'turn_down', None, False),
    ('hand turns up', 'turn_up', None, False),
    ('object falls', 'rise', None, True),
    ('object rises', 'rise', None, False),
    ('square slides', 'slide', 'square', False),
    ('star slides', 'slide', 'star', False),
    ('triangle slides', 'slide', 'triangle', False),
)
#: The co-training positive control's video classes (docs/cotraining.md):
#: one '<shape> slides' class per image class (the shapes of
#: :data:`~mvitx.datasets.demo.render.SHAPES`, in their order), so the
#: object alone tells the clip classes apart.
OBJECT_CLASSES = tuple(
    (f'{shape} slides', 'slide', shape, False) for shape in SHAPES)
#: The class sets :func:`make_kinetics` can write.
VIDEO_CLASS_SETS = dict(demo=VIDEO_CLASSES, objects=OBJECT_CLASSES)
#: Object radius range (fractions of the frame side) of each class set.
#: The demo's objects leave room for rising and turning hands; the positive
#: control's are as large as the middle and upper part of the images'
#: (0.12-0.38, :func:`~mvitx.datasets.demo.imagenet.make_imagenet`), so what
#: the images teach about the shapes applies to the clips (with the demo's
#: range, the image head of a co-trained model told the shapes of 0.12-0.2
#: apart near chance and those of 0.29-0.38 at 47 %, docs/cotraining.md),
#: while a sliding object still moves by more than half its radius.
RADIUS_RANGES = dict(demo=(0.12, 0.2), objects=(0.2, 0.32))


def plan_video(rng: np.random.Generator,
               motion: str,
               shape: Optional[str],
               size: int,
               num_frames: int,
               radius_range: tuple = RADIUS_RANGES['demo']) -> tuple:
    """Draws a video's object and its motion.

    The object is held by a hand on its left or right side that points at
    it; ``slide`` and ``rise`` move both, ``open`` and ``turn_*`` keep the
    object still and animate the hand.

    Args:
        rng (np.random.Generator): Random source.
        motion (str): ``'slide'``, ``'rise'``, ``'open'``, ``'turn_up'`` or
            ``'turn_down'``.
        shape (str | None): The object's shape; None draws any.
        size (int): Frame side in pixels.
        num_frames (int): ``T``.
        radius_range (tuple[float, float]): The object's radius as
            fractions of ``size``. Defaults to the demo's.

    Returns:
        tuple: object dict, centres (T, 2), hand poses (T, 5, 2).
    """
    if shape is None:
        shape = SHAPES[rng.integers(len(SHAPES))]
    obj = sample_object(rng, shape, size, radius_range)
    scale = size / 64.
    r = obj['radius']
    side = rng.choice([-1., 1.])  # hand left (-1) or right (+1) of object
    reach = (HAND_GAP + FINGER_OPEN + PALM_RADIUS) * scale
    extent = dict(
        left=r + (reach if side < 0 else 0.),
        right=r + (reach if side > 0 else 0.),
        vertical=max(r, (FINGER_OPEN + PALM_RADIUS) * scale))
    x_lo, x_hi = extent['left'] + 1, size - 2 - extent['right']
    y_lo, y_hi = extent['vertical'] + 1, size - 2 - extent['vertical']
    progress = np.linspace(0., 1., num_frames)
    center = np.array([rng.uniform(x_lo, x_hi), rng.uniform(y_lo, y_hi)])
    centers = np.repeat(center[None], num_frames, 0)
    if motion == 'slide':
        start, end = (x_lo, x_hi) if rng.random() < 0.5 else (x_hi, x_lo)
        centers[:, 0] = start + progress * (end - start)
    elif motion == 'rise':
        centers[:, 1] = y_hi + progress * (y_lo - y_hi)
    palms = centers + [side * (r + (HAND_GAP + FINGER_OPEN) * scale), 0.]
    facing = np.pi if side > 0 else 0.  # pointing at the object
    openness = np.full(num_frames, HOLD_OPENNESS)
    directions = np.full(num_frames, facing)
    if motion == 'open':
        openness = progress
    elif motion in ('turn_up', 'turn_down'):
        # Up is -y; with the hand on the right, turning up is clockwise.
        up = -1. if motion == 'turn_up' else 1.
        directions = facing + up * -side * progress * TURN_ANGLE
    poses = np.stack([
        hand_pose(palm, d, o, scale)
        for palm, d, o in zip(palms, directions, openness)
    ])
    return obj, centers, poses


def clip_priors(obj_boxes: np.ndarray, hand_boxes: np.ndarray,
                centers: np.ndarray, hand_poses: np.ndarray, size: int,
                meta: str) -> dict:
    """The prior-store fields of one video (see ``docs/priors.md``).

    Boxes per frame: person (union of hand and object, type 0), hand
    (type 1, person 0), object (type 3). Keypoints: one person with the
    :data:`KEYPOINT_NAMES`, in pixel-edge coordinates like the boxes.

    Args:
        obj_boxes (np.ndarray): (T, 4) object boxes from
            :func:`~mvitx.datasets.demo.render.render`.
        hand_boxes (np.ndarray): (T, 4) hand boxes from
            :func:`~mvitx.datasets.demo.render.render`.
        centers (np.ndarray): (T, 2) object centres, drawing coordinates.
        hand_poses (np.ndarray): (T, 5, 2) from
            :func:`~mvitx.datasets.demo.render.hand_pose`.
        size (int): Frame side in pixels.
        meta (str): JSON string stored as ``meta``.

    Returns:
        dict: Keyword arguments of
        :func:`mvitx.datasets.prior_store.save_priors`.
    """
    num = len(centers)
    person = np.concatenate([
        np.minimum(obj_boxes[:, :2], hand_boxes[:, :2]),
        np.maximum(obj_boxes[:, 2:], hand_boxes[:, 2:])
    ], 1)
    points = np.concatenate([centers[:, None], hand_poses], 1) + 0.5
    inside = np.all((points >= 0) & (points <= size), axis=2)
    keypoints = np.concatenate([points, inside[..., None]], 2)
    return dict(
        frame_inds=np.arange(num),
        timestamps=np.arange(num) / FPS,
        boxes=np.stack([person, hand_boxes, obj_boxes], 1),
        box_scores=np.ones((num, 3), np.float32),
        box_types=np.tile(
            [BOX_TYPES['person'], BOX_TYPES['hand'], BOX_TYPES['object']],
            (num, 1)),
        box_person=np.tile([0, 0, -1], (num, 1)),
        keypoints=keypoints[:, None].astype(np.float32),
        keypoint_layout='demo',
        keypoint_flip_pairs=np.array(KEYPOINT_FLIP_PAIRS),
        video_size=(size, size),
        meta=meta)


def make_kinetics(root: str,
                  seed: int,
                  counts: dict,
                  size: int,
                  num_frames: int,
                  class_set: str = 'demo') -> None:
    """Writes ``root/videos_{split}/*.mp4``, their list files
    (``{split}_list.txt``: ``<file> <label>``), the official Kinetics CSVs
    (``{split}.csv``), ``classes.txt`` and ``priors/<stem>.npz``.

    Args:
        root (str): Output folder.
        seed (int): Random seed.
        counts (dict): Videos per class, ``train_videos``, ``val_videos``
            and optionally ``test_videos`` (no test split when missing or
            0; see :data:`~mvitx.datasets.demo.generate.SCALES`).
        size (int): Frame side in pixels.
        num_frames (int): Frames per video.
        class_set (str): A key of :data:`VIDEO_CLASS_SETS`: ``'demo'``
            (:data:`VIDEO_CLASSES`, the default) or ``'objects'``
            (:data:`OBJECT_CLASSES`).
    """
    if class_set not in VIDEO_CLASS_SETS:
        raise ValueError(f'class_set {class_set!r}: expected one of '
                         f'{sorted(VIDEO_CLASS_SETS)}')
    video_classes = VIDEO_CLASS_SETS[class_set]
    duration = int(np.ceil(num_frames / FPS))
    for split in VIDEO_SPLITS:
        if not counts.get(f'{split}_videos'):
            continue
        video_dir = osp.join(root, f'videos_{split}')
        os.makedirs(video_dir, exist_ok=True)
        lines, rows = [], []
        for label, (name, motion, shape, reverse) in enumerate(video_classes):
            for index in range(counts[f'{split}_videos']):
                rng = item_rng(seed, 'video', split, label, index)
                vid = youtube_id(rng)
                start = int(rng.integers(0, 600))
                stem = f'{vid}_{start:06d}_{start + duration:06d}'
                background = sample_background(rng, size)
                obj, centers, poses = plan_video(rng, motion, shape, size,
                                                 num_frames,
                                                 RADIUS_RANGES[class_set])
                if reverse:
                    centers, poses = centers[::-1], poses[::-1]
                frames, obj_boxes, hand_boxes = render(background, obj,
                                                       centers, poses)
                write_mp4(osp.join(video_dir, f'{stem}.mp4'), frames)
                meta = dict(
                    generator=GENERATOR,
                    seed=seed,
                    label=label,
                    class_name=name,
                    shape=obj['shape'],
                    object_radius=obj['radius'],
                    texture=obj['texture'],
                    object_color=obj['color'].tolist(),
                    hand_color=list(HAND_COLOR),
                    keypoint_names=list(KEYPOINT_NAMES),
                    fps=FPS)
                save_priors(
                    osp.join(root, 'priors', f'{stem}.npz'),
                    **clip_priors(obj_boxes, hand_boxes, centers, poses, size,
                                  json.dumps(meta, sort_keys=True)))
                lines.append(f'{stem}.mp4 {label}\n')
                rows.append([name, vid, start, start + duration, split])
        with open(osp.join(root, f'{split}_list.txt'), 'w') as f:
            f.writelines(lines)
        with open(osp.join(root, f'{split}.csv'), 'w', newline='') as f:
            writer = csv.writer(f, lineterminator='\n')
            writer.writerow(
                ['label', 'youtube_id', 'time_start', 'time_end', 'split'])
            writer.writerows(rows)
    with open(osp.join(root, 'classes.txt'), 'w') as f:
        f.writelines(f'{name}\n' for name, *_ in video_classes)
