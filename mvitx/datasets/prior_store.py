"""The prior store: one ``.npz`` file of boxes and keypoints per video.

The format is documented in ``docs/priors.md``. This module needs numpy
only, so prior files can be written by the extraction tool (mmdet/mmpose)
and read at training time without either library installed.

Examples:
    >>> import numpy as np
    >>> save_priors(
    ...     'priors/vid.npz', frame_inds=np.arange(2),
    ...     timestamps=np.arange(2) / 30.,
    ...     boxes=np.zeros((2, 1, 4), np.float32),
    ...     box_scores=np.ones((2, 1), np.float32),
    ...     box_types=np.zeros((2, 1), np.int8),
    ...     keypoints=np.zeros((2, 1, 17, 3), np.float32),
    ...     keypoint_layout='coco', video_size=(240, 320))
    >>> priors = load_priors('priors/vid.npz')
    >>> priors['boxes'].shape
    (2, 1, 4)
"""
import json
import os
import os.path as osp
import re
import zipfile
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from mvitx.structures.region_types import BOX_TYPES, HAND, PAD_TYPE, PERSON

#: The hidden, per-process name :func:`save_priors` writes ``<name>`` under
#: before renaming it (a killed process leaves it behind).
TEMP_NAME = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$')


class KeypointLayout(NamedTuple):
    """What the ``K`` keypoints of a layout are.

    Attributes:
        num_keypoints (int): ``K``; 0 means any ``K`` is accepted.
        flip_pairs (tuple[tuple[int, int]]): Left/right keypoint pairs that
            swap under a horizontal flip.
        hand_groups (tuple[tuple[int, ...]]): Keypoint ids of each hand,
            used to derive hand boxes.
        face_group (tuple[int, ...]): Keypoint ids of the face, used to
            derive a face box.
    """
    num_keypoints: int
    flip_pairs: Tuple[Tuple[int, int], ...]
    hand_groups: Tuple[Tuple[int, ...], ...]
    face_group: Tuple[int, ...]


def _face68_flip_pairs(offset: int) -> List[Tuple[int, int]]:
    """Flip pairs of the 68-point (iBUG 300-W) face layout."""
    pairs = [(i, 16 - i) for i in range(8)]  # jaw line
    pairs += [(17 + i, 26 - i) for i in range(5)]  # eyebrows
    pairs += [(31, 35), (32, 34)]  # nose bottom
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lip
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lip
    return [(a + offset, b + offset) for a, b in pairs]


_COCO_BODY_FLIP = tuple((i, i + 1) for i in range(1, 17, 2))

#: Known keypoint layouts. COCO and COCO-WholeBody follow mmpose's dataset
#: metainfo; ``'demo'`` is the synthetic demo data's layout (its files may
#: carry their own ``keypoint_flip_pairs``).
KEYPOINT_LAYOUTS: Dict[str, KeypointLayout] = {
    'coco':
    KeypointLayout(
        num_keypoints=17,
        flip_pairs=_COCO_BODY_FLIP,
        hand_groups=(),
        face_group=(0, 1, 2, 3, 4)),
    'coco_wholebody':
    KeypointLayout(
        num_keypoints=133,
        flip_pairs=(_COCO_BODY_FLIP + ((17, 20), (18, 21), (19, 22)) +
                    tuple(_face68_flip_pairs(23)) + tuple(
                        (91 + i, 112 + i) for i in range(21))),
        hand_groups=(tuple(range(91, 112)), tuple(range(112, 133))),
        face_group=tuple(range(23, 91))),
    'demo':
    KeypointLayout(
        num_keypoints=0, flip_pairs=(), hand_groups=(), face_group=()),
}

#: Known layouts of ``keypoints3d``: Human3.6M's 17 joints (root, right
#: hip/knee/foot, left hip/knee/foot, spine, thorax, neck base, head, left
#: shoulder/elbow/wrist, right shoulder/elbow/wrist), mmpose's pose lifters.
KEYPOINT3D_LAYOUTS: Dict[str, KeypointLayout] = {
    'h36m':
    KeypointLayout(
        num_keypoints=17,
        flip_pairs=((1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16)),
        hand_groups=(),
        face_group=()),
}

#: The version :func:`save_priors` writes. 1: the first format (no
#: ``format_version`` field); 2: adds ``format_version``, ``box_classes``,
#: ``box_links`` and the optional ``keypoints3d``/``keypoints3d_layout``.
#: Files of every version up to this one load; fields a file's version
#: lacks get their defaults.
FORMAT_VERSION = 2
#: Box types an object box may be linked to (``box_links``).
LINK_TYPES = (PERSON, HAND)

#: Fields every prior file has, with their dtypes.
REQUIRED_FIELDS = {
    'frame_inds': np.int64,
    'timestamps': np.float64,
    'boxes': np.float32,
    'box_scores': np.float32,
    'box_types': np.int8,
    'keypoints': np.float32,
    'keypoint_layout': str,
    'video_size': np.int64,
}
#: Optional fields and their dtypes. Defaults are filled in on load,
#: except for ``keypoints3d``/``keypoints3d_layout``, which stay absent
#: when a file has no 3D poses.
OPTIONAL_FIELDS = {
    'format_version': np.int64,
    'box_person': np.int64,
    'box_classes': np.int64,
    'box_links': np.int64,
    'keypoint_flip_pairs': np.int64,
    'keypoints3d': np.float32,
    'keypoints3d_layout': str,
    'meta': str,
}


class PriorFileError(ValueError):
    """A prior file (or the fields for one) that breaks the format.

    Args:
        path (str): The offending file.
        reason (str): What is wrong.
    """

    def __init__(self, path: str, reason: str):
        super().__init__(f'invalid prior file {path}: {reason}')
        self.path = path
        self.reason = reason


def _check_finite(path: str, key: str, array: np.ndarray) -> None:
    """Raises naming the first NaN/inf entry of ``array``."""
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        index = bad[0].tolist()
        raise PriorFileError(
            path, f'{key}{index} is {array[tuple(index)]}; {key} must be '
            'finite (a missing detection or keypoint is an empty slot: '
            'score 0, box type -1)')


def _check_links(path: str, links: np.ndarray, types: np.ndarray) -> None:
    """Raises unless every ``box_links`` entry ``(F, M)`` is -1 or the slot
    of a person or hand box of the same frame other than its own."""
    frame, slot = np.nonzero(links != -1)
    target = links[frame, slot]
    bad = (target < 0) | (target >= links.shape[1]) | (target == slot)
    bad[~bad] = ~np.isin(types[frame[~bad], target[~bad]], LINK_TYPES)
    if bad.any():
        f, m = frame[bad][0], slot[bad][0]
        raise PriorFileError(
            path, f'box_links[{f}, {m}] is {links[f, m]}; a link is -1 or '
            'the slot of a person or hand box of the same frame')


def _check_keypoints3d(path: str, out: dict) -> None:
    """Checks ``keypoints3d`` ``(F, P, K3, 4)`` against ``keypoints`` and
    ``keypoints3d_layout`` (both present or both absent)."""
    if ('keypoints3d' in out) != ('keypoints3d_layout' in out):
        raise PriorFileError(path,
                             'keypoints3d and keypoints3d_layout go together')
    if 'keypoints3d' not in out:
        return
    layout = str(out['keypoints3d_layout'])
    if layout not in KEYPOINT3D_LAYOUTS:
        raise PriorFileError(
            path, f'unknown keypoints3d_layout {layout!r} '
            f'(known: {sorted(KEYPOINT3D_LAYOUTS)})')
    kpts3d, (num, persons) = out['keypoints3d'], out['keypoints'].shape[:2]
    expected = (num, persons, KEYPOINT3D_LAYOUTS[layout].num_keypoints, 4)
    if kpts3d.shape != expected:
        raise PriorFileError(
            path, f'keypoints3d must be {expected} (F, P like keypoints, '
            f'{layout!r} joints, x y z score), got {kpts3d.shape}')
    _check_finite(path, 'keypoints3d', kpts3d)


def _normalise(path: str, fields: dict) -> Dict[str, np.ndarray]:
    """Checks ``fields`` against the format and returns them as arrays of
    the stored dtypes, with optional fields filled in.

    Raises:
        PriorFileError: Naming ``path`` and the first problem found.
    """
    unknown = set(fields) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS)
    if unknown:
        raise PriorFileError(path, f'unknown fields {sorted(unknown)}')
    missing = [k for k in REQUIRED_FIELDS if k not in fields]
    if missing:
        raise PriorFileError(path, f'missing fields {missing}')
    out = {}
    version = np.asarray(fields.get('format_version', 1))
    if (version.shape != () or not np.issubdtype(version.dtype, np.integer)
            or not 1 <= version <= FORMAT_VERSION):
        raise PriorFileError(
            path, f'format_version {version} is not one this mvitx reads '
            f'(1 to {FORMAT_VERSION}; a newer file needs a newer mvitx)')
    fields = dict(fields, format_version=version)
    for key, dtype in {**REQUIRED_FIELDS, **OPTIONAL_FIELDS}.items():
        if key not in fields:
            continue
        value = fields[key]
        if dtype is str:
            if key == 'meta' and isinstance(value, dict):
                value = json.dumps(value, sort_keys=True)
            out[key] = np.asarray(str(value))
        else:
            out[key] = np.asarray(value).astype(dtype, copy=False)

    frames = out['frame_inds']
    if frames.ndim != 1:
        raise PriorFileError(
            path, f'frame_inds must be (F,), got '
            f'{frames.shape}')
    num = len(frames)
    if np.any(np.diff(frames) <= 0):
        raise PriorFileError(path, 'frame_inds must be strictly increasing')
    if out['timestamps'].shape != (num, ):
        raise PriorFileError(
            path, f'timestamps must be ({num},), got '
            f'{out["timestamps"].shape}')
    boxes = out['boxes']
    if boxes.ndim != 3 or boxes.shape[0] != num or boxes.shape[2] != 4:
        raise PriorFileError(
            path, f'boxes must be ({num}, M, 4), got {boxes.shape}')
    slots = boxes.shape[:2]
    for key in ('box_person', 'box_classes', 'box_links'):
        out.setdefault(key, np.full(slots, -1, np.int64))
    for key in ('box_scores', 'box_types', 'box_person', 'box_classes',
                'box_links'):
        if out[key].shape != slots:
            raise PriorFileError(
                path, f'{key} must be {slots} like boxes, got '
                f'{out[key].shape}')
    bad_types = set(np.unique(
        out['box_types']).tolist()) - {PAD_TYPE, *BOX_TYPES.values()}
    if bad_types:
        raise PriorFileError(
            path, f'box_types has unknown ids {sorted(bad_types)} '
            f'(known: {BOX_TYPES}, pad {PAD_TYPE})')
    for key in ('boxes', 'box_scores'):
        _check_finite(path, key, out[key])
    real = out['box_types'] != PAD_TYPE
    if np.any(boxes[real][:, 2:] < boxes[real][:, :2]):
        raise PriorFileError(path, 'boxes must be x1 <= x2 and y1 <= y2')
    if np.any(out['box_classes'] < -1):
        raise PriorFileError(path, 'box_classes must be >= -1 (-1: none)')
    _check_links(path, out['box_links'], out['box_types'])

    layout = str(out['keypoint_layout'])
    if layout not in KEYPOINT_LAYOUTS:
        raise PriorFileError(
            path, f'unknown keypoint_layout {layout!r} '
            f'(known: {sorted(KEYPOINT_LAYOUTS)})')
    kpts = out['keypoints']
    if kpts.ndim != 4 or kpts.shape[0] != num or kpts.shape[3] != 3:
        raise PriorFileError(
            path, f'keypoints must be ({num}, P, K, 3), got {kpts.shape}')
    _check_finite(path, 'keypoints', kpts)
    expected_k = KEYPOINT_LAYOUTS[layout].num_keypoints
    if expected_k and kpts.shape[2] != expected_k:
        raise PriorFileError(
            path, f'layout {layout!r} has {expected_k} keypoints, '
            f'got K={kpts.shape[2]}')
    out.setdefault(
        'keypoint_flip_pairs',
        np.asarray(KEYPOINT_LAYOUTS[layout].flip_pairs,
                   np.int64).reshape(-1, 2))
    pairs = out['keypoint_flip_pairs']
    if pairs.ndim != 2 or pairs.shape[1] != 2 or (
            pairs.size and (pairs.min() < 0 or pairs.max() >= kpts.shape[2])):
        raise PriorFileError(
            path, 'keypoint_flip_pairs must be (n, 2) keypoint ids < '
            f'{kpts.shape[2]}')
    _check_keypoints3d(path, out)
    if out['video_size'].shape != (2, ) or np.any(out['video_size'] <= 0):
        raise PriorFileError(
            path, f'video_size must be (H, W) > 0, got {out["video_size"]}')
    out.setdefault('meta', np.asarray('{}'))
    try:
        json.loads(str(out['meta']))
    except ValueError as err:
        raise PriorFileError(path, f'meta is not JSON: {err}') from err
    return out


def save_priors(path: str, **fields) -> None:
    """Validates and writes one video's priors to ``path`` (``.npz``).

    The file is written under a temporary name in the same directory and
    then renamed, so a killed process never leaves a half-written file.

    Args:
        path (str): Destination ``.npz`` file; parent directories are
            created.
        **fields: ``frame_inds`` (F,) int, ``timestamps`` (F,) seconds,
            ``boxes`` (F, M, 4) xyxy pixels of a ``video_size`` frame,
            ``box_scores`` (F, M), ``box_types`` (F, M) (see
            :data:`BOX_TYPES`, -1 = empty slot), ``keypoints`` (F, P, K, 3)
            ``(x, y, score)``, ``keypoint_layout`` (a key of
            :data:`KEYPOINT_LAYOUTS`), ``video_size`` (H, W); optionally
            ``box_person`` (F, M) (the person index ``p`` of ``keypoints``
            a box belongs to, -1 none; default -1), ``box_classes`` (F, M)
            (the detector's class id of a box, -1 none; default -1),
            ``box_links`` (F, M) (the slot of the person or hand box of the
            same frame an object box is linked to, -1 none; default -1),
            ``keypoint_flip_pairs`` (n, 2) (default: the layout's),
            ``keypoints3d`` (F, P, K3, 4) ``(x, y, z, score)`` of the
            persons of ``keypoints`` with ``keypoints3d_layout`` (a key of
            :data:`KEYPOINT3D_LAYOUTS`) and ``meta`` (dict or JSON string).
            ``format_version`` is always written as
            :data:`FORMAT_VERSION`.

    Raises:
        PriorFileError: If a field is missing or breaks the format.
    """
    # The fields are checked against, and written as, the current version
    # (the defaults of a loaded older file make a valid current one).
    arrays = _normalise(path, dict(fields, format_version=FORMAT_VERSION))
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # Hidden, per-process temporary name (TEMP_NAME): never mistaken for a
    # finished file by a restarted run, and two processes never share it.
    tmp = osp.join(folder, f'.{osp.basename(path)}.{os.getpid()}.tmp')
    try:
        with open(tmp, 'wb') as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def load_priors(path: str) -> Dict[str, np.ndarray]:
    """Reads and validates one prior file written by :func:`save_priors`.

    Args:
        path (str): The ``.npz`` file.

    Returns:
        dict: The fields named in :func:`save_priors`, all present (optional
        ones filled with their defaults) except ``keypoints3d`` and
        ``keypoints3d_layout``, present only when the file has them;
        ``format_version`` is an ``int`` (1 for files without the field),
        the layouts and ``meta`` are ``str``, ``meta`` still JSON (see
        :func:`prior_meta`).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        PriorFileError: If the file is not a valid prior file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'no prior file {path}')
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise PriorFileError(path, f'cannot read: {err}') from err
    out = _normalise(path, fields)
    out['format_version'] = int(out['format_version'])
    for key in ('keypoint_layout', 'keypoints3d_layout', 'meta'):
        if key in out:
            out[key] = str(out[key])
    return out


def prior_meta(priors: dict) -> dict:
    """The ``meta`` field of loaded priors as a dict."""
    return json.loads(priors['meta'])


def align_priors(priors: dict,
                 frame_inds: np.ndarray,
                 max_gap: int,
                 frame_size: Optional[Tuple[int, int]] = None) -> dict:
    """Picks, for every sampled frame, the nearest stored frame's priors.

    Args:
        priors (dict): Loaded priors (:func:`load_priors`).
        frame_inds (np.ndarray): Sampled frame indices ``(T,)`` of the same
            video.
        max_gap (int): A stored frame further than this many frames from a
            sampled frame is not used; that frame gets empty slots.
        frame_size (tuple[int, int], optional): ``(H, W)`` the frames were
            decoded at; boxes and keypoints are rescaled from
            ``video_size`` to it. Defaults to None (no rescaling).

    Returns:
        dict: ``boxes`` (T, M, 4) float32, ``box_scores`` (T, M) float32,
        ``box_types`` (T, M) int8 (-1 = empty), ``box_person``,
        ``box_classes`` and ``box_links`` (T, M) int64 (-1 = none),
        ``keypoints`` (T, P, K, 3) float32 (score 0 = empty),
        ``keypoints3d`` (T, P, K3, 4) float32 (score 0 = empty; only when
        ``priors`` has it; 3D coordinates are not rescaled) and
        ``source_frame`` (T,) int64: the stored frame used (-1 none).
    """
    frame_inds = np.asarray(frame_inds, np.int64).reshape(-1)
    stored = priors['frame_inds']
    if len(stored):
        right = np.clip(
            np.searchsorted(stored, frame_inds), 0,
            len(stored) - 1)
        left = np.clip(right - 1, 0, len(stored) - 1)
        # ties go to the earlier stored frame
        take_left = (
            np.abs(stored[left] - frame_inds)
            <= np.abs(stored[right] - frame_inds))
        nearest = np.where(take_left, left, right)
        found = np.abs(stored[nearest] - frame_inds) <= max_gap
    else:
        nearest = np.zeros(len(frame_inds), np.int64)
        found = np.zeros(len(frame_inds), bool)

    def gather(key: str, fill) -> np.ndarray:
        array = priors[key]
        out = np.full((len(frame_inds), ) + array.shape[1:], fill, array.dtype)
        out[found] = array[nearest[found]]
        return out

    out = dict(
        boxes=gather('boxes', 0),
        box_scores=gather('box_scores', 0),
        box_types=gather('box_types', PAD_TYPE),
        box_person=gather('box_person', -1),
        box_classes=gather('box_classes', -1),
        box_links=gather('box_links', -1),
        keypoints=gather('keypoints', 0),
        source_frame=np.where(found, stored[nearest] if len(stored) else -1,
                              -1).astype(np.int64))
    if 'keypoints3d' in priors:
        out['keypoints3d'] = gather('keypoints3d', 0)
    if frame_size is not None:
        scale_y, scale_x = (
            np.asarray(frame_size, np.float64) / priors['video_size'])
        if scale_x != 1 or scale_y != 1:
            out['boxes'] *= np.array([scale_x, scale_y] * 2, np.float32)
            out['keypoints'][..., :2] *= np.array([scale_x, scale_y],
                                                  np.float32)
    return out
