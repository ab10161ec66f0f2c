"""What the demo image and video writers share: objects (the image classes)
drawn with a textured fill on a dark background, a small near-white "hand"
beside them, exact boxes of the drawn pixels, per-item random generators and
the deterministic JPEG and mp4 writers.

Output is deterministic: every item draws from its own generator
(:func:`item_rng`) and the encoders (JPEG at fixed quality, OpenCV's
``mp4v``, lossless H.264) are deterministic, so the same seed and settings
give the same bytes.
"""
from fractions import Fraction
from typing import Optional, Tuple

import av
import cv2
import numpy as np

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

SPLITS = ('train', 'val')
#: The Kinetics part also has a held-out ``test`` split at the scales that
#: give ``test_videos`` (``'study'``).
VIDEO_SPLITS = SPLITS + ('test', )
JPEG_QUALITY = 90
#: Frame rate of the Kinetics-style videos.
FPS = 8
SUBPIXEL_BITS = 4  # OpenCV drawing ``shift``: positions in 1/16 pixel
#: The command that writes the demo data, stored in the prior files' meta.
GENERATOR = 'tools/data/make_demo_data.py'


def item_rng(seed: int, modality: str, split: str, label: int,
             index: int) -> np.random.Generator:
    """The generator of one item, independent of generation order."""
    return np.random.default_rng([
        seed, ('image', 'video').index(modality),
        VIDEO_SPLITS.index(split), label, index
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


def write_lossless_mp4(path: str, frames: np.ndarray, fps: int = FPS) -> None:
    """Writes (T, H, W, 3) RGB frames as a lossless H.264 mp4 (``libx264rgb``
    at quantiser 0, planar RGB): decoders (PyAV, decord) return the frames
    exactly, so no pixel depends on what is drawn elsewhere in the video,
    unlike with :func:`write_mp4`, whose coding errors spread over blocks
    and, through motion compensation, over frames."""
    height, width = frames.shape[1:3]
    with av.open(path, 'w') as container:
        stream = container.add_stream(
            'libx264rgb', rate=Fraction(fps), options=dict(qp='0'))
        stream.width, stream.height, stream.pix_fmt = width, height, 'rgb24'
        for frame in frames:
            container.mux(
                stream.encode(
                    av.VideoFrame.from_ndarray(
                        np.ascontiguousarray(frame), 'rgb24')))
        container.mux(stream.encode())


def youtube_id(rng: np.random.Generator) -> str:
    """An 11-character YouTube-style id."""
    alphabet = np.array(
        list('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrst'
             'uvwxyz0123456789-_'))
    return ''.join(alphabet[rng.integers(len(alphabet), size=11)])
