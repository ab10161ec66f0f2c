"""The ``detail`` task: a positive control for top-down modulation
(``docs/topdown.md``, "Positive control").

Every clip shows a few look-alike *carriers* (small grey rectangles,
"held objects") moving over a dark background. Each carrier bears a small
glyph: a white line through a black square of 3x3 blocks of ``glyph_scale``
pixels (6x6 pixels by default), horizontal, vertical or along one of the
diagonals. Exactly one carrier, drawn at
random, is *marked*: the clip's prior file boxes it (type ``object``) and
its glyph is the clip's class. The other carriers' glyphs, the carriers'
grey levels, sizes, places and motion and the background are drawn
independently of the class, with the same distribution for the marked
carrier and the others, so:

- only the pixels inside the marked carrier's box depend on the class
  (:func:`make_detail_clip` draws everything but the marked glyph before it
  looks at the label);
- without the priors, nothing tells the marked carrier from the others:
  the best a model can do is to read every glyph and vote, which
  :func:`vote_accuracy` computes from the stored glyph classes;
- every glyph has three white and six black blocks, so its mean colour
  does not tell the classes apart; only its structure does, which is
  below the 8-pixel cells the ``xs`` backbone pools a 32-pixel frame to in
  its second stage (blocks of 2 pixels, lines 6 pixels long by default).

The prior files also carry one keypoint "person" per frame with the
:data:`KEYPOINT_NAMES` (the glyph's centre and line ends), for the
attention target and the structure head. The line ends depend on the
class, so they are training targets only: a model that takes them as
input can read the class from them (``configs/topdown/
mvit_xs_detail_topdown.py`` keeps them out of the neck's input).

The clips are written losslessly by default (:data:`WRITERS`), so the
decoded pixels outside the marked box do not depend on the class either.
"""
import json
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from mvitx.structures import OBJECT
from ..prior_store import load_priors, save_priors
from .render import FPS, sample_background, write_lossless_mp4, write_mp4

#: Class names in label order (sorted) and their 3x3 glyphs (each entry a
#: block of ``glyph_scale`` x ``glyph_scale`` pixels).
CLASSES = ('antidiagonal', 'diagonal', 'horizontal', 'vertical')
GLYPHS = {
    'antidiagonal': np.fliplr(np.eye(3, dtype=bool)),
    'diagonal': np.eye(3, dtype=bool),
    'horizontal': np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]], bool),
    'vertical': np.array([[0, 1, 0], [0, 1, 0], [0, 1, 0]], bool),
}
GLYPH_SIZE = 3
#: Grey level range of the carriers (the demo backgrounds are <= 125).
CARRIER_GRAY = (150, 211)
#: The marked carrier's keypoints: the glyph's centre and the centres of
#: the two end blocks of its line (the end first in raster order first).
KEYPOINT_NAMES = ('glyph_center', 'glyph_end_first', 'glyph_end_last')
SPLITS = ('train', 'val', 'test')
#: Generator name stored in the prior files' meta.
GENERATOR = 'mvitx.datasets.demo.detail'
#: The clip writers of :func:`write_detail_set`: lossless H.264, whose
#: decoded pixels outside the marked box do not depend on the class, and
#: OpenCV's lossy ``mp4v``, whose coding errors carry the glyph beyond the
#: box (the sets of docs/topdown.md's first tables).
WRITERS = dict(lossless=write_lossless_mp4, mp4v=write_mp4)


def _carrier_boxes(rng: np.random.Generator, size: int, num_frames: int,
                   num_carriers: int, side_range: Tuple[int, int],
                   max_speed: float) -> np.ndarray:
    """Draws non-overlapping carrier tracks (rejection sampling).

    Returns:
        np.ndarray: ``(num_carriers, T, 4)`` int xyxy pixel-edge boxes,
        inside the frame and at least one pixel apart in every frame.
    """
    t = np.arange(num_frames)[:, None]
    for _ in range(1000):
        sides = rng.integers(side_range[0], side_range[1] + 1,
                             (num_carriers, 2))
        velocity = rng.uniform(-max_speed, max_speed, (num_carriers, 2))
        boxes = []
        for (w, h), v in zip(sides, velocity):
            # Start where the whole track stays inside the frame.
            span = np.abs(v) * (num_frames - 1)
            lo = np.where(v < 0, span, 0.)
            hi = size - np.array([w, h]) - np.where(v > 0, span, 0.)
            start = rng.uniform(lo, np.maximum(hi, lo))
            xy = np.round(start + v * t).astype(int)
            boxes.append(np.concatenate([xy, xy + [w, h]], 1))
        boxes = np.stack(boxes)
        lo, hi = boxes[..., :2], boxes[..., 2:]
        apart = ((lo[:, None] > hi[None]) | (lo[None] > hi[:, None])).any(-1)
        apart |= np.eye(num_carriers, dtype=bool)[:, :, None]
        if apart.all() and lo.min() >= 0 and hi.max() <= size:
            return boxes
    raise ValueError(f'cannot place {num_carriers} carriers of sides '
                     f'{side_range} apart in a {size}-pixel frame')


def make_detail_clip(rng: np.random.Generator,
                     label: int,
                     size: int = 32,
                     num_frames: int = 4,
                     num_carriers: int = 3,
                     glyph_scale: int = 2,
                     side_range: Optional[Tuple[int, int]] = None,
                     max_speed: float = 1.5) -> Tuple[np.ndarray, dict]:
    """Draws one clip of the detail task.

    Every draw from ``rng`` happens before ``label`` is used, so two calls
    with equal generators and different labels give frames that differ
    only in the marked glyph, inside the marked carrier's box.

    Args:
        rng (np.random.Generator): Random source.
        label (int): Class id, an index of :data:`CLASSES`.
        size (int): Frame side in pixels. Defaults to 32.
        num_frames (int): ``T``. Defaults to 4.
        num_carriers (int): Carriers, the marked one included. Defaults to
            3.
        glyph_scale (int): Pixels per glyph block (the glyph is ``3 *
            glyph_scale`` pixels square). Defaults to 2.
        side_range (tuple[int, int], optional): Smallest and largest
            carrier side in pixels. Defaults to None: the glyph's side plus
            2 to 5 pixels.
        max_speed (float): Largest speed along each axis, pixels per frame.
            Defaults to 1.5.

    Returns:
        tuple: frames ``(T, size, size, 3)`` uint8 RGB and the prior-store
        fields (:func:`~mvitx.datasets.prior_store.save_priors`) with the
        marked carrier's box and keypoints; their ``meta`` (a dict) holds
        ``label``, ``class_name``, ``marked`` (the marked carrier's index)
        and ``carrier_classes`` (every carrier's glyph class).

    Raises:
        ValueError: If ``label`` is not a class id or the carriers do not
            fit into the frame.
    """
    if not 0 <= label < len(CLASSES):
        raise ValueError(f'label {label} is not a class id of {CLASSES}')
    if glyph_scale < 1:
        raise ValueError(f'glyph_scale must be >= 1, got {glyph_scale}')
    glyph_size = GLYPH_SIZE * glyph_scale
    if side_range is None:
        side_range = (glyph_size + 2, glyph_size + 5)
    if side_range[0] < glyph_size + 2:
        raise ValueError(f'carriers of side {side_range[0]} cannot hold a '
                         f'{glyph_size}-pixel glyph with a 1-pixel margin')
    boxes = _carrier_boxes(rng, size, num_frames, num_carriers, side_range,
                           max_speed)
    background = sample_background(rng, size)
    # Grey carriers, brighter than any background (<= 125): the glyph, not
    # the carrier's colour, is what varies most inside a carrier.
    colors = np.repeat(
        rng.integers(*CARRIER_GRAY, size=(num_carriers, 1)), 3, axis=1)
    sides = boxes[:, 0, 2:] - boxes[:, 0, :2]
    # Glyph offsets inside their carriers, at least one pixel from the edge.
    offsets = rng.integers(1, sides - glyph_size)
    classes = rng.integers(len(CLASSES), size=num_carriers)
    marked = int(rng.integers(num_carriers))
    classes[marked] = label

    frames = np.repeat(background[None], num_frames, 0)
    for box, color, offset, cls in zip(boxes, colors, offsets, classes):
        glyph = np.where(
            np.kron(GLYPHS[CLASSES[cls]],
                    np.ones((glyph_scale, glyph_scale), bool))[..., None], 255,
            0).astype(np.uint8)
        for t, (x1, y1, x2, y2) in enumerate(box):
            frames[t, y1:y2, x1:x2] = color
            gx, gy = x1 + offset[0], y1 + offset[1]
            frames[t, gy:gy + glyph_size, gx:gx + glyph_size] = glyph

    rows, cols = np.nonzero(GLYPHS[CLASSES[label]])  # raster order
    # Block centres in pixel-edge coordinates.
    line = (np.stack([cols, rows], 1) + 0.5) * glyph_scale
    glyph_points = np.stack([line[1], line[0], line[-1]])
    origin = boxes[marked, :, :2] + offsets[marked]  # (T, 2)
    points = origin[:, None] + glyph_points[None]  # (T, 3, 2)
    scores = np.ones((num_frames, 3, 1))
    keypoints = np.concatenate([points, scores], -1)[:, None]  # one person
    priors = dict(
        frame_inds=np.arange(num_frames),
        timestamps=np.arange(num_frames) / FPS,
        boxes=boxes[marked][:, None].astype(np.float32),
        box_scores=np.ones((num_frames, 1), np.float32),
        box_types=np.full((num_frames, 1), OBJECT, np.int8),
        keypoints=keypoints.astype(np.float32),
        keypoint_layout='demo',
        video_size=(size, size),
        meta=dict(
            generator=GENERATOR,
            label=label,
            class_name=CLASSES[label],
            marked=marked,
            carrier_classes=classes.tolist(),
            keypoint_names=list(KEYPOINT_NAMES)))
    return frames, priors


def write_detail_set(out_dir: str,
                     seed: int = 0,
                     counts: Sequence[int] = (1000, 50, 100),
                     size: int = 32,
                     num_frames: int = 4,
                     num_carriers: int = 3,
                     glyph_scale: int = 2,
                     codec: str = 'lossless') -> Dict[str, int]:
    """Writes the detail task's train, val and test clips::

        out_dir/classes.txt                  one class name a line
        out_dir/{train,val,test}_list.txt    "<file> <label>" lines
        out_dir/videos_{split}/{split}_{i:05d}.mp4
        out_dir/priors/{split}_{i:05d}.npz   the marked carrier, per frame

    the layout of the demo's Kinetics part (``VideoDataset`` with
    ``ann_file='<split>_list.txt'``, ``data_prefix=dict(video=
    'videos_<split>')``, ``classes='classes.txt'``,
    ``prior_prefix='priors'``). Clip ``i`` of a split has class ``i %
    len(CLASSES)``, so every split is balanced. Output is deterministic:
    clip ``i`` of split ``s`` draws from ``np.random.default_rng([seed, s,
    i])``.

    Args:
        out_dir (str): Output folder.
        seed (int): Random seed. Defaults to 0.
        counts (Sequence[int]): Clips per class of the train, val and test
            splits. Defaults to ``(1000, 50, 100)`` (4,000, 200 and 400
            clips).
        size (int): Frame side in pixels. Defaults to 32.
        num_frames (int): Frames per clip. Defaults to 4.
        num_carriers (int): Carriers per clip. Defaults to 3.
        glyph_scale (int): Pixels per glyph block. Defaults to 2.
        codec (str): A key of :data:`WRITERS`. Defaults to ``'lossless'``:
            a decoder returns the drawn frames exactly, so only the pixels
            inside the marked box depend on the class.

    Returns:
        dict: Clips written per split.
    """
    if len(counts) != len(SPLITS) or min(counts) < 1:
        raise ValueError(f'counts must give clips per class (>= 1) of '
                         f'{SPLITS}, got {counts}')
    if codec not in WRITERS:
        raise ValueError(f'codec must be one of {sorted(WRITERS)}, got '
                         f'{codec!r}')
    written = {}
    for split_index, (split, per_class) in enumerate(zip(SPLITS, counts)):
        video_dir = osp.join(out_dir, f'videos_{split}')
        os.makedirs(video_dir, exist_ok=True)
        lines = []
        for i in range(per_class * len(CLASSES)):
            label = i % len(CLASSES)
            rng = np.random.default_rng([seed, split_index, i])
            frames, priors = make_detail_clip(rng, label, size, num_frames,
                                              num_carriers, glyph_scale)
            stem = f'{split}_{i:05d}'
            WRITERS[codec](osp.join(video_dir, f'{stem}.mp4'), frames)
            priors['meta'] = dict(priors['meta'], seed=seed, codec=codec)
            save_priors(osp.join(out_dir, 'priors', f'{stem}.npz'), **priors)
            lines.append(f'{stem}.mp4 {label}\n')
        with open(osp.join(out_dir, f'{split}_list.txt'), 'w') as f:
            f.writelines(lines)
        written[split] = len(lines)
    with open(osp.join(out_dir, 'classes.txt'), 'w') as f:
        f.writelines(f'{name}\n' for name in CLASSES)
    return written


def vote_accuracy(out_dir: str, split: str = 'test') -> float:
    """The expected top-1 (%) of the best reader without priors: the class
    of the most frequent glyph among a clip's carriers, ties split evenly.

    With the marked carrier uniform among look-alike carriers and the other
    glyphs uniform and independent of the class, the posterior of a class
    is proportional to how many carriers bear its glyph, so no model that
    does not know which carrier is marked can do better in expectation.

    Args:
        out_dir (str): A folder written by :func:`write_detail_set`.
        split (str): One of :data:`SPLITS`. Defaults to ``'test'``.

    Returns:
        float: Expected top-1 in percent over the split's clips.
    """
    with open(osp.join(out_dir, f'{split}_list.txt')) as f:
        names = [line.split()[0] for line in f if line.strip()]
    hits = []
    for name in names:
        meta = json.loads(
            str(
                load_priors(
                    osp.join(out_dir, 'priors',
                             osp.splitext(name)[0] + '.npz'))['meta']))
        votes = np.bincount(meta['carrier_classes'], minlength=len(CLASSES))
        best = votes == votes.max()
        hits.append(best[meta['label']] / best.sum())
    return 100. * float(np.mean(hits))
