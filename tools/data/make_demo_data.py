"""Generates the built-in demo dataset in the real ImageNet, Kinetics and
AVA formats: ``python tools/data/make_demo_data.py --out data/demo``.

Images are shapes (the object classes); videos need the object *and* its
motion: which shape slides, whether an object rises or falls (the same frames
in reverse order), and whether a small "hand" next to the object opens,
closes, turns up or turns down. Every video comes with its exact
object/hand/person boxes and keypoints as a prior file
(:mod:`mvitx.datasets.prior_store`). The AVA part (:func:`make_ava`) is a
few "movies" of several actors with multi-label actions, two of them small
details; its ``kinetics/`` folder (:func:`make_ava_kinetics`) adds a few
clips in the format of the Kinetics part of AVA-Kinetics. See
``docs/demo_data.md`` and ``docs/ava.md``.

Output is deterministic: the same ``--seed`` and settings give the same
bytes, because every item draws from its own generator seeded by
``(seed, image or video, split, class, index)`` (AVA movies by ``(seed,
split, movie)``, AVA-Kinetics clips by ``(seed, split, clip, 1)``) and the
encoders (JPEG at fixed quality, OpenCV's
``mp4v``) are deterministic.
"""
import argparse
import csv
import json
import os
import os.path as osp
import pickle
import time
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mvitx.datasets.prior_store import BOX_TYPES, save_priors

#: Image (object) classes. Classes are in sorted order, as the ImageNet
#: folder layout and Kinetics CSVs number them.
SHAPES = ('arrow', 'circle', 'crescent', 'cross', 'diamond', 'hexagon', 'ring',
          'square', 'star', 'triangle')
TEXTURES = ('plain', 'stripes', 'dots')
BACKGROUNDS = ('noise', 'gradient')
#: Object colours (RGB). After jitter each has a channel >= 190 and one
#: <= 110, backgrounds stay <= ``MAX_BACKGROUND`` and the hand is
#: near-white, so colour alone tells object, hand and background apart.
OBJECT_COLORS = (
    (225, 45, 45),  # red
    (45, 205, 65),  # green
    (55, 95, 235),  # blue
    (240, 220, 45),  # yellow
    (215, 55, 215),  # magenta
    (45, 215, 225),  # cyan
    (250, 140, 25),  # orange
    (150, 80, 245),  # violet
)
COLOR_JITTER = 15
MAX_BACKGROUND = 125
HAND_COLOR = (245, 245, 245)
#: Darkening of the texture's second colour (stripes, dots).
TEXTURE_SHADE = 0.45

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

#: Keypoints of the ``'demo'`` layout (one "person" per video). Fingertips
#: are ordered across the hand as seen looking along its pointing direction
#: (``l`` = left of it in the image), so a horizontal flip swaps l/r.
KEYPOINT_NAMES = ('object_center', 'hand_center', 'fingertip_l2',
                  'fingertip_l1', 'fingertip_r1', 'fingertip_r2')
KEYPOINT_FLIP_PAIRS = ((2, 5), (3, 4))
#: Finger directions relative to the pointing direction at full openness.
FINGER_ANGLES = np.deg2rad([-45., -15., 15., 45.])
#: Hand sizes in pixels of a 64-pixel frame (scaled with the frame).
PALM_RADIUS = 2.0
FINGER_CLOSED = 2.0
FINGER_OPEN = 5.5
HAND_GAP = 1.0
#: How far a turning hand rotates away from the object, and the openness of
#: a hand that is not opening or closing.
TURN_ANGLE = np.deg2rad(75.)
HOLD_OPENNESS = 0.5

#: Items per class of each ``--scale``.
SCALES = {
    'small':
    dict(
        train_images=100,
        val_images=20,
        train_videos=24,
        val_videos=8,
        train_movies=6,
        val_movies=2,
        movie_seconds=8),
    'tiny':
    dict(
        train_images=2,
        val_images=1,
        train_videos=1,
        val_videos=1,
        train_movies=2,
        val_movies=1,
        movie_seconds=4),
}
SPLITS = ('train', 'val')
JPEG_QUALITY = 90
FPS = 8
SUBPIXEL_BITS = 4  # OpenCV drawing ``shift``: positions in 1/16 pixel


def item_rng(seed: int, modality: str, split: str, label: int,
             index: int) -> np.random.Generator:
    """The generator of one item, independent of generation order."""
    return np.random.default_rng([
        seed, ('image', 'video').index(modality),
        SPLITS.index(split), label, index
    ])


def sample_object(rng: np.random.Generator, shape: str, size: int,
                  radius_range: Tuple[float, float]) -> dict:
    """Draws an object's appearance.

    Args:
        rng (np.random.Generator): Random source.
        shape (str): One of :data:`SHAPES`.
        size (int): Frame side in pixels.
        radius_range (tuple[float, float]): Radius as fractions of ``size``.

    Returns:
        dict: ``shape``, ``radius`` (px), ``angle`` (rad), ``color`` (3,)
        uint8 RGB, ``texture``, ``texture_angle`` and ``period`` (px).
    """
    base = np.array(OBJECT_COLORS[rng.integers(len(OBJECT_COLORS))])
    color = base + rng.integers(-COLOR_JITTER, COLOR_JITTER + 1, 3)
    # Shapes turn a little (a square must not become a diamond); an arrow
    # may point, and a crescent open, anywhere.
    spread = np.pi if shape in ('arrow', 'crescent') else np.deg2rad(20.)
    return dict(
        shape=shape,
        radius=rng.uniform(*radius_range) * size,
        angle=rng.uniform(-spread, spread),
        color=np.clip(color, 0, 255).astype(np.uint8),
        texture=TEXTURES[rng.integers(len(TEXTURES))],
        texture_angle=rng.uniform(0, np.pi),
        period=rng.uniform(3., 5.) * size / 64.)


def sample_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Draws a static dark background, (size, size, 3) uint8 RGB."""
    kind = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    if kind == 'noise':
        base = rng.uniform(25, 100, 3)
        img = base + rng.normal(0, 12, (size, size, 3))
    else:
        start, end = rng.uniform(10, 110, (2, 3))
        angle = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[:size, :size] / max(size - 1, 1)
        ramp = xs * np.cos(angle) + ys * np.sin(angle)
        ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
        img = start + ramp[..., None] * (end - start)
    return np.clip(img, 0, MAX_BACKGROUND).astype(np.uint8)


def _polygon(shape: str) -> np.ndarray:
    """Unit-radius outline of a polygonal shape, (n, 2) xy."""

    def ring(count, start, radii=(1., )):
        angles = start + np.arange(count) * 2 * np.pi / count
        r = np.resize(np.asarray(radii), count)
        return np.stack([r * np.cos(angles), r * np.sin(angles)], 1)

    if shape == 'square':
        return ring(4, np.pi / 4)
    if shape == 'diamond':
        return ring(4, 0.) * [0.65, 1.]
    if shape == 'triangle':
        return ring(3, -np.pi / 2)
    if shape == 'hexagon':
        return ring(6, 0.)
    if shape == 'star':
        return ring(10, -np.pi / 2, (1., 0.42))
    if shape == 'cross':
        a, b = 0.3, 0.95
        return np.array([[-a, -b], [a, -b], [a, -a], [b, -a], [b, a], [a, a],
                         [a, b], [-a, b], [-a, a], [-b, a], [-b, -a], [-a,
                                                                       -a]])
    if shape == 'arrow':
        return np.array([[-1., -0.22], [0.2, -0.22], [0.2, -0.6], [1., 0.],
                         [0.2, 0.6], [0.2, 0.22], [-1., 0.22]])
    raise ValueError(f'unknown shape {shape!r}')


def _fixed(xy) -> np.ndarray:
    """Sub-pixel coordinates for OpenCV drawing with ``SUBPIXEL_BITS``."""
    return np.round(np.asarray(xy) * (1 << SUBPIXEL_BITS)).astype(np.int32)


def object_mask(obj: dict, center: np.ndarray, size: int) -> np.ndarray:
    """Pixels covered by an object.

    Args:
        obj (dict): From :func:`sample_object`.
        center (np.ndarray): (2,) centre (x, y) in drawing coordinates,
            OpenCV's (pixel ``i`` centred at ``i``).
        size (int): Frame side in pixels.

    Returns:
        np.ndarray: (size, size) bool.
    """
    mask = np.zeros((size, size), np.uint8)
    r = obj['radius']

    def disc(xy, radius, value):
        cv2.circle(
            mask,
            tuple(_fixed(xy)),
            int(_fixed(radius)),
            value,
            thickness=-1,
            shift=SUBPIXEL_BITS)

    if obj['shape'] in ('circle', 'ring', 'crescent'):
        disc(center, r, 1)
        if obj['shape'] == 'ring':
            disc(center, 0.5 * r, 0)
        elif obj['shape'] == 'crescent':
            opening = np.array([np.cos(obj['angle']), np.sin(obj['angle'])])
            disc(np.asarray(center) + 0.55 * r * opening, 0.85 * r, 0)
    else:
        cos, sin = np.cos(obj['angle']), np.sin(obj['angle'])
        rotation = np.array([[cos, -sin], [sin, cos]])
        points = _polygon(obj['shape']) @ rotation.T * r + center
        cv2.fillPoly(mask, [_fixed(points)], 1, shift=SUBPIXEL_BITS)
    return mask.astype(bool)


def object_colors(obj: dict, center: np.ndarray, size: int) -> np.ndarray:
    """The object's textured colours over the whole frame.

    The texture is fixed to the object, so it moves with it.

    Args:
        obj (dict): From :func:`sample_object`.
        center (np.ndarray): (2,) centre (x, y), drawing coordinates.
        size (int): Frame side in pixels.

    Returns:
        np.ndarray: (size, size, 3) uint8 RGB.
    """
    ys, xs = np.mgrid[:size, :size].astype(np.float64)
    u, v = xs - center[0], ys - center[1]
    period = obj['period']
    if obj['texture'] == 'stripes':
        phase = u * np.cos(obj['texture_angle']) + v * np.sin(
            obj['texture_angle'])
        shaded = np.mod(phase, period) < period / 2
    elif obj['texture'] == 'dots':
        du = np.mod(u, period) - period / 2
        dv = np.mod(v, period) - period / 2
        shaded = du**2 + dv**2 < (0.3 * period)**2
    else:
        shaded = np.zeros((size, size), bool)
    colors = np.empty((size, size, 3), np.uint8)
    colors[...] = obj['color']
    colors[shaded] = (obj['color'] * TEXTURE_SHADE).astype(np.uint8)
    return colors


def hand_pose(palm: np.ndarray, direction: float, openness: float,
              scale: float) -> np.ndarray:
    """Hand keypoints for one frame.

    Args:
        palm (np.ndarray): Palm centre (x, y), drawing coordinates.
        direction (float): Pointing angle in radians (image axes).
        openness (float): 0 closed (fingers short and together) to 1 open.
        scale (float): Frame side / 64.

    Returns:
        np.ndarray: (5, 2) palm centre then fingertips in
        :data:`KEYPOINT_NAMES` order.
    """
    length = (FINGER_CLOSED + openness * (FINGER_OPEN - FINGER_CLOSED)) * scale
    angles = direction + FINGER_ANGLES * (0.15 + 0.85 * openness)
    tips = palm + length * np.stack([np.cos(angles), np.sin(angles)], 1)
    return np.concatenate([np.asarray(palm)[None], tips])


def hand_mask(pose: np.ndarray, scale: float, size: int) -> np.ndarray:
    """Pixels of a hand drawn from ``pose`` (see :func:`hand_pose`)."""
    mask = np.zeros((size, size), np.uint8)
    palm = tuple(_fixed(pose[0]))
    cv2.circle(
        mask,
        palm,
        int(_fixed(PALM_RADIUS * scale)),
        1,
        thickness=-1,
        shift=SUBPIXEL_BITS)
    for tip in pose[1:]:
        cv2.line(mask, palm, tuple(_fixed(tip)), 1, shift=SUBPIXEL_BITS)
    return mask.astype(bool)


def mask_box(mask: np.ndarray) -> np.ndarray:
    """Tight xyxy box of a mask in pixel-edge coordinates, (4,) float32."""
    ys, xs = np.nonzero(mask)
    return np.array(
        [xs.min(), ys.min(), xs.max() + 1,
         ys.max() + 1], np.float32)


def render(background: np.ndarray,
           obj: dict,
           centers: np.ndarray,
           hand_poses: Optional[np.ndarray] = None) -> tuple:
    """Renders a clip (an image is a one-frame clip).

    Args:
        background (np.ndarray): (H, W, 3) uint8 RGB, square.
        obj (dict): From :func:`sample_object`.
        centers (np.ndarray): (T, 2) object centres, drawing coordinates.
        hand_poses (np.ndarray, optional): (T, 5, 2) from :func:`hand_pose`;
            None draws no hand.

    Returns:
        tuple: frames (T, H, W, 3) uint8 RGB, object boxes (T, 4) and hand
        boxes (T, 4) (None without a hand), xyxy pixel edges.
    """
    size = background.shape[0]
    scale = size / 64.
    frames, obj_boxes, hand_boxes = [], [], []
    for t, center in enumerate(centers):
        mask = object_mask(obj, center, size)
        frame = np.where(mask[..., None], object_colors(obj, center, size),
                         background)
        obj_boxes.append(mask_box(mask))
        if hand_poses is not None:
            hand = hand_mask(hand_poses[t], scale, size)
            frame[hand] = HAND_COLOR
            hand_boxes.append(mask_box(hand))
            # The hand may hide part of the object: box what is visible.
            obj_boxes[-1] = mask_box(mask & ~hand)
        frames.append(frame)
    return (np.stack(frames), np.stack(obj_boxes),
            np.stack(hand_boxes) if hand_poses is not None else None)


def plan_video(rng: np.random.Generator, motion: str, shape: Optional[str],
               size: int, num_frames: int) -> tuple:
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

    Returns:
        tuple: object dict, centres (T, 2), hand poses (T, 5, 2).
    """
    if shape is None:
        shape = SHAPES[rng.integers(len(SHAPES))]
    obj = sample_object(rng, shape, size, (0.12, 0.2))
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
        obj_boxes (np.ndarray): (T, 4) object boxes from :func:`render`.
        hand_boxes (np.ndarray): (T, 4) hand boxes from :func:`render`.
        centers (np.ndarray): (T, 2) object centres, drawing coordinates.
        hand_poses (np.ndarray): (T, 5, 2) from :func:`hand_pose`.
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


def write_jpeg(path: str, image: np.ndarray) -> None:
    """Writes an RGB image as a JPEG of fixed quality."""
    if not cv2.imwrite(path, image[..., ::-1],
                       [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise OSError(f'cannot write {path}')


def write_mp4(path: str, frames: np.ndarray, fps: int = FPS) -> None:
    """Writes (T, H, W, 3) RGB frames as an ``mp4v`` mp4."""
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (width, height))
    if not writer.isOpened():
        raise OSError(f'cannot open a video writer for {path}')
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()


def youtube_id(rng: np.random.Generator) -> str:
    """An 11-character YouTube-style id."""
    alphabet = np.array(
        list('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrst'
             'uvwxyz0123456789-_'))
    return ''.join(alphabet[rng.integers(len(alphabet), size=11)])


def make_imagenet(root: str, seed: int, counts: dict, size: int) -> None:
    """Writes ``root/{train,val}/<class>/*.JPEG`` and ``root/meta``.

    ``meta/{split}.txt`` lines are ``<class>/<file> <label>`` relative to
    ``root/<split>``; ``meta/classes.txt`` has one class name a line.

    Args:
        root (str): Output folder.
        seed (int): Random seed.
        counts (dict): Images per class, ``train_images`` and
            ``val_images`` (see :data:`SCALES`).
        size (int): Image side in pixels.
    """
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    for split in SPLITS:
        lines = []
        for label, shape in enumerate(SHAPES):
            os.makedirs(osp.join(root, split, shape), exist_ok=True)
            for index in range(counts[f'{split}_images']):
                rng = item_rng(seed, 'image', split, label, index)
                obj = sample_object(rng, shape, size, (0.12, 0.38))
                margin = obj['radius'] + 1
                center = rng.uniform(margin, size - 1 - margin, (1, 2))
                frames, _, _ = render(
                    sample_background(rng, size), obj, center)
                name = f'{shape}/{shape}_{split}_{index:05d}.JPEG'
                write_jpeg(osp.join(root, split, name), frames[0])
                lines.append(f'{name} {label}\n')
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.writelines(lines)
    with open(osp.join(root, 'meta', 'classes.txt'), 'w') as f:
        f.writelines(f'{shape}\n' for shape in SHAPES)


def make_kinetics(root: str, seed: int, counts: dict, size: int,
                  num_frames: int) -> None:
    """Writes ``root/videos_{split}/*.mp4``, their list files
    (``{split}_list.txt``: ``<file> <label>``), the official Kinetics CSVs
    (``{split}.csv``), ``classes.txt`` and ``priors/<stem>.npz``.

    Args:
        root (str): Output folder.
        seed (int): Random seed.
        counts (dict): Videos per class, ``train_videos`` and
            ``val_videos`` (see :data:`SCALES`).
        size (int): Frame side in pixels.
        num_frames (int): Frames per video.
    """
    duration = int(np.ceil(num_frames / FPS))
    for split in SPLITS:
        video_dir = osp.join(root, f'videos_{split}')
        os.makedirs(video_dir, exist_ok=True)
        lines, rows = [], []
        for label, (name, motion, shape, reverse) in enumerate(VIDEO_CLASSES):
            for index in range(counts[f'{split}_videos']):
                rng = item_rng(seed, 'video', split, label, index)
                vid = youtube_id(rng)
                start = int(rng.integers(0, 600))
                stem = f'{vid}_{start:06d}_{start + duration:06d}'
                background = sample_background(rng, size)
                obj, centers, poses = plan_video(rng, motion, shape, size,
                                                 num_frames)
                if reverse:
                    centers, poses = centers[::-1], poses[::-1]
                frames, obj_boxes, hand_boxes = render(background, obj,
                                                       centers, poses)
                write_mp4(osp.join(video_dir, f'{stem}.mp4'), frames)
                meta = dict(
                    generator='tools/data/make_demo_data.py',
                    seed=seed,
                    label=label,
                    class_name=name,
                    shape=obj['shape'],
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
        f.writelines(f'{name}\n' for name, *_ in VIDEO_CLASSES)


#: AVA actions ``(id, name, evaluated)``; ``crouch`` is not evaluated, as
#: 20 of AVA's 80 classes are not.
AVA_ACTIONS = (
    (1, 'stand', True),
    (2, 'walk', True),
    (3, 'wave', True),
    (4, 'hold object', True),
    (5, 'crouch', False),
    (6, 'phone', True),
)
AVA_FPS = 10
AVA_SIZE = (96, 64)  # (W, H)
#: Actor body width, height and crouching height in pixels.
BODY_W, BODY_H, CROUCH_H = 12, 30, 20


def actor_states(rng: np.random.Generator, seconds: int) -> List[dict]:
    """Per second, one actor's actions: ``walk`` (else stand), ``wave``,
    ``hold``, ``crouch``, ``phone`` and the walking velocity."""
    states = []
    for _ in range(seconds):
        states.append(
            dict(
                walk=rng.random() < 0.5,
                wave=rng.random() < 0.35,
                hold=rng.random() < 0.35,
                crouch=rng.random() < 0.25,
                phone=rng.random() < 0.08,
                vx=float(rng.choice([-1.5, 1.5]))))
    return states


def render_movie(rng: np.random.Generator, seconds: int,
                 num_actors: int) -> tuple:
    """Frames ``(F, H, W, 3)`` RGB, per keyframe second ``1 .. seconds -
    1`` the actors' ``(box, labels)``, and per frame the prior boxes
    ``[(type, x1, y1, x2, y2)]`` in pixels."""
    w, h = AVA_SIZE
    num_frames = seconds * AVA_FPS
    bg = rng.integers(40, 90, (h // 8, w // 8, 3)).astype(np.uint8)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_NEAREST)
    actors = []
    for i in range(num_actors):
        actors.append(
            dict(
                x=float(8 + i * (w - 24) / max(num_actors - 1, 1)),
                shade=int(rng.integers(140, 200)),
                states=actor_states(rng, seconds + 1)))
    frames = np.repeat(bg[None], num_frames, 0).copy()
    keyframes = {t: [] for t in range(1, seconds)}
    priors = [[] for _ in range(num_frames)]
    for f in range(num_frames):
        # The state of second t covers [t - 0.5, t + 0.5).
        sec = int(np.floor(f / AVA_FPS + 0.5))
        for actor in actors:
            st = actor['states'][sec]
            if st['walk']:
                actor['x'] += st['vx']
                if not 2 <= actor['x'] <= w - BODY_W - 2:
                    st['vx'] = -st['vx']
                    actor['x'] = float(np.clip(actor['x'], 2, w - BODY_W - 2))
            x1 = int(round(actor['x']))
            body_h = CROUCH_H if st['crouch'] else BODY_H
            y2 = h - 6
            y1 = y2 - body_h
            img = frames[f]
            img[y1:y2, x1:x1 + BODY_W] = actor['shade']
            img[y1:y1 + 6, x1 + 3:x1 + BODY_W - 3] = 220  # head
            boxes = priors[f]
            boxes.append(('person', x1, y1 - 8, x1 + BODY_W + 4, y2))
            boxes.append(('face', x1 + 1, y1, x1 + BODY_W - 3, y1 + 6))
            if st['wave']:
                dy = int(3 * np.sin(2 * np.pi * f / 4))
                img[y1 - 7 + dy:y1 - 3 + dy, x1 + BODY_W - 3:x1 + BODY_W] = 255
                boxes.append(('hand', x1 + BODY_W - 3, y1 - 7 + dy,
                              x1 + BODY_W, y1 - 3 + dy))
            if st['hold']:
                img[y1 + 12:y1 + 17,
                    x1 + BODY_W:x1 + BODY_W + 4] = (230, 30, 30)
                boxes.append(
                    ('object', x1 + BODY_W, y1 + 12, x1 + BODY_W + 4, y1 + 17))
            if st['phone']:
                img[y1 + 1:y1 + 5, x1 + 1:x1 + 3] = 15
            if f % AVA_FPS == 0 and sec in keyframes:
                box = (x1 / w, (y1 - 8) / h, min(x1 + BODY_W + 4, w) / w,
                       y2 / h)
                labels = [2 if st['walk'] else 1]
                labels += [
                    a for a, on in ((3, st['wave']), (4, st['hold']),
                                    (5, st['crouch']), (6, st['phone'])) if on
                ]
                keyframes[sec].append((box, labels))
    return frames, keyframes, priors


def write_movie_priors(path: str, priors: list) -> None:
    """Saves a movie's per-frame prior boxes (score 1, no keypoints)."""
    num, slots = len(priors), max(len(p) for p in priors)
    boxes = np.zeros((num, slots, 4), np.float32)
    types = np.full((num, slots), -1, np.int8)
    for f, frame in enumerate(priors):
        for m, (kind, *box) in enumerate(frame):
            boxes[f, m] = box
            types[f, m] = BOX_TYPES[kind]
    save_priors(
        path,
        frame_inds=np.arange(num),
        timestamps=np.arange(num) / AVA_FPS,
        boxes=boxes,
        box_scores=(types >= 0).astype(np.float32),
        box_types=types,
        keypoints=np.zeros((num, 0, 17, 3), np.float32),
        keypoint_layout='coco',
        video_size=(AVA_SIZE[1], AVA_SIZE[0]),
        meta='{"generator": "tools/data/make_demo_data.py"}')


def write_movie(frames: np.ndarray, video: str, frame_dir: str) -> None:
    """Writes the mp4 and its decoded frames as JPEGs (numbered from 1), as
    AVA users extract them."""
    write_mp4(video, frames, AVA_FPS)
    os.makedirs(frame_dir, exist_ok=True)
    cap = cv2.VideoCapture(video)
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        index += 1
        cv2.imwrite(
            osp.join(frame_dir, f'img_{index:05d}.jpg'), frame,
            [cv2.IMWRITE_JPEG_QUALITY, 95])
    cap.release()
    if index != len(frames):
        raise RuntimeError(f'{video}: decoded {index} of {len(frames)} '
                           'frames')


def proposals_for(rng: np.random.Generator, actors: list) -> np.ndarray:
    """Jittered actor boxes with high scores and one low-scored false box."""
    out = []
    for box, _ in actors:
        jitter = rng.normal(0, 0.015, 4)
        b = np.clip(np.array(box) + jitter, 0, 1)
        out.append([*b, rng.uniform(0.8, 1.0)])
    x = rng.uniform(0, 0.7)
    out.append([x, 0.1, x + 0.2, 0.5, rng.uniform(0.05, 0.5)])
    return np.array(out, np.float32)


def make_ava(root: str, seed: int, counts: dict) -> None:
    """Writes a small AVA-format set (formats in ``docs/ava.md``)::

        root/videos/{video_id}.mp4            mp4v at AVA_FPS
        root/frames/{video_id}/img_00001.jpg  the decoded frames
        root/annotations/ava_{train,val}_demo.csv
        root/annotations/ava_val_excluded_timestamps_demo.csv
        root/annotations/ava_action_list_demo.pbtxt  (5 of 6 evaluated)
        root/annotations/ava_dense_proposals_{train,val}_demo.pkl
        root/priors/{video_id}.npz            person/face/hand/object boxes

    Each movie shows 2-3 actors who, around every keyframe (one per second,
    movie time 0 = frame 0), stand or walk, may wave (a small hand moving
    up and down), hold an object, crouch or (rarely) be on the phone (a
    small dark square at the head): several actors, multi-label actions,
    small details and a long tail. Proposals are the actor boxes jittered,
    with scores in [0.8, 1], plus a low-scored false box. The last
    keyframe of the first validation movie is excluded.

    Args:
        root (str): Output folder.
        seed (int): Random seed.
        counts (dict): ``train_movies``, ``val_movies`` and
            ``movie_seconds`` (see :data:`SCALES`).
    """
    ann_dir = osp.join(root, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    os.makedirs(osp.join(root, 'videos'), exist_ok=True)
    with open(osp.join(ann_dir, 'ava_action_list_demo.pbtxt'), 'w') as f:
        for cid, name, evaluated in AVA_ACTIONS:
            if evaluated:
                f.write(f'item {{\n  name: "{name}"\n  id: {cid}\n}}\n')
    seconds = counts['movie_seconds']
    for split_index, split in enumerate(SPLITS):
        rows, proposals = [], {}
        for m in range(counts[f'{split}_movies']):
            rng = np.random.default_rng([seed, split_index, m])
            video_id = f'{split}{m:02d}'
            frames, keyframes, priors = render_movie(rng, seconds,
                                                     int(rng.integers(2, 4)))
            write_movie_priors(
                osp.join(root, 'priors', f'{video_id}.npz'), priors)
            write_movie(frames, osp.join(root, 'videos', f'{video_id}.mp4'),
                        osp.join(root, 'frames', video_id))
            for ts, actors in keyframes.items():
                for pid, (box, labels) in enumerate(actors):
                    for label in labels:
                        rows.append(f'{video_id},{ts:04d},{box[0]:.3f},'
                                    f'{box[1]:.3f},{box[2]:.3f},'
                                    f'{box[3]:.3f},{label},{pid}\n')
                proposals[f'{video_id},{ts:04d}'] = proposals_for(rng, actors)
        if split == 'val':
            # Excluded keyframes have no annotations, as in the official
            # files.
            excluded = f'val00,{seconds - 1:04d}'
            rows = [r for r in rows if not r.startswith(excluded + ',')]
            with open(
                    osp.join(ann_dir, 'ava_val_excluded_timestamps_demo.csv'),
                    'w') as f:
                f.write(excluded + '\n')
        with open(osp.join(ann_dir, f'ava_{split}_demo.csv'), 'w') as f:
            f.writelines(rows)
        with open(
                osp.join(ann_dir, f'ava_dense_proposals_{split}_demo.pkl'),
                'wb') as f:
            pickle.dump(proposals, f)


#: Clips per split of the AVA-Kinetics part (the last one without actors),
#: their length and the clip second of their keyframe.
AVA_KINETICS_CLIPS = dict(train=3, val=2)
AVA_KINETICS_SECONDS, AVA_KINETICS_KEYFRAME = 4, 2


def make_ava_kinetics(root: str, seed: int) -> None:
    """Writes the Kinetics part of a small AVA-Kinetics set next to the AVA
    part (formats in ``docs/ava.md``)::

        root/kinetics/videos/{split}/{youtube_id}_{start:06d}_{end:06d}.mp4
        root/kinetics/annotations/kinetics_{train,val}_demo.csv
        root/kinetics/annotations/kinetics_dense_proposals_{train,val}_demo.pkl

    Each clip (:data:`AVA_KINETICS_SECONDS` long, named by its seconds in a
    made-up YouTube video, as Kinetics-700 files are) has one annotated
    keyframe :data:`AVA_KINETICS_KEYFRAME` seconds in, timed in seconds of
    the YouTube video with microseconds, as ``kinetics_*_v1.0.csv``:
    ``youtube_id,timestamp,x1,y1,x2,y2,action_id`` rows (no person id),
    and ``youtube_id,timestamp`` for the last clip of each split, whose
    keyframe has no actors. Actors, actions and proposals are drawn as in
    :func:`make_ava`; proposals are keyed by the whole second
    (``'youtube_id,%04d'``, mmaction2's ``fetch_proposal.py`` keys). The
    label map is the AVA part's.

    Args:
        root (str): The AVA part's folder.
        seed (int): Random seed.
    """
    ann_dir = osp.join(root, 'kinetics', 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    for split_index, split in enumerate(SPLITS):
        video_dir = osp.join(root, 'kinetics', 'videos', split)
        os.makedirs(video_dir, exist_ok=True)
        rows, proposals = [], {}
        for c in range(AVA_KINETICS_CLIPS[split]):
            # The trailing 1 keeps these apart from the AVA movies' seeds.
            rng = np.random.default_rng([seed, split_index, c, 1])
            vid = youtube_id(rng)
            start = int(rng.integers(0, 300))
            num_actors = int(rng.integers(1, 3))
            if c == AVA_KINETICS_CLIPS[split] - 1:
                num_actors = 0
            frames, keyframes, _ = render_movie(rng, AVA_KINETICS_SECONDS,
                                                num_actors)
            end = start + AVA_KINETICS_SECONDS
            write_mp4(
                osp.join(video_dir, f'{vid}_{start:06d}_{end:06d}.mp4'),
                frames, AVA_FPS)
            # Kinetics keyframes are not at whole seconds; a few
            # milliseconds keep this one on the same frame.
            ts = start + AVA_KINETICS_KEYFRAME + int(rng.integers(0, 40)) / 1e3
            actors = keyframes[AVA_KINETICS_KEYFRAME]
            for box, labels in actors:
                for label in labels:
                    rows.append(f'{vid},{ts:.6f},{box[0]:.3f},{box[1]:.3f},'
                                f'{box[2]:.3f},{box[3]:.3f},{label}\n')
            if not actors:
                rows.append(f'{vid},{ts:.6f}\n')
            proposals[f'{vid},{int(ts):04d}'] = proposals_for(rng, actors)
        with open(osp.join(ann_dir, f'kinetics_{split}_demo.csv'), 'w') as f:
            f.writelines(rows)
        name = f'kinetics_dense_proposals_{split}_demo.pkl'
        with open(osp.join(ann_dir, name), 'wb') as f:
            pickle.dump(proposals, f)


def make_demo_data(out: str,
                   seed: int = 0,
                   scale: str = 'small',
                   image_size: int = 64,
                   video_size: int = 64,
                   num_frames: int = 16) -> None:
    """Writes the whole demo dataset under ``out`` (``imagenet/``,
    ``kinetics/`` and ``ava/``, with ``ava/kinetics/``); see
    :func:`make_imagenet`, :func:`make_kinetics`, :func:`make_ava` and
    :func:`make_ava_kinetics`.

    Args:
        out (str): Output folder.
        seed (int): Random seed. Defaults to 0.
        scale (str): A key of :data:`SCALES`. Defaults to ``'small'``.
        image_size (int): Image side in pixels. Defaults to 64.
        video_size (int): Video frame side in pixels. Defaults to 64.
        num_frames (int): Frames per video. Defaults to 16.
    """
    counts = SCALES[scale]
    make_imagenet(osp.join(out, 'imagenet'), seed, counts, image_size)
    make_kinetics(
        osp.join(out, 'kinetics'), seed, counts, video_size, num_frames)
    make_ava(osp.join(out, 'ava'), seed, counts)
    make_ava_kinetics(osp.join(out, 'ava'), seed)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the demo dataset (ImageNet, Kinetics and AVA '
        'formats, with exact priors)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--scale',
        choices=sorted(SCALES),
        default='small',
        help='items per class (tiny: a few files, for tests)')
    parser.add_argument('--image-size', type=int, default=64)
    parser.add_argument('--video-size', type=int, default=64)
    parser.add_argument('--num-frames', type=int, default=16)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    make_demo_data(args.out, args.seed, args.scale, args.image_size,
                   args.video_size, args.num_frames)
    print(f'[make_demo_data] wrote {args.out} ({args.scale}, seed '
          f'{args.seed}) in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
