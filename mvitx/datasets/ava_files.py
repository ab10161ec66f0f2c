"""Readers of the official AVA annotation files: the action list
(``.pbtxt``), the box CSVs and the excluded-timestamps CSV. Shared by
:class:`~mvitx.datasets.AVADataset`, :class:`~mvitx.evaluation.AVAMetric`
and the AVA tools."""
import csv
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

#: ``(boxes (n, 4) xyxy normalised, labels (n,), scores (n,))`` per keyframe.
FrameBoxes = Tuple[np.ndarray, np.ndarray, np.ndarray]


def make_image_key(video_id: str, timestamp) -> str:
    """The official keyframe key, e.g. ``'-5KQ66BBWC4,0902'``."""
    return f'{video_id},{int(timestamp):04d}'


def read_labelmap(path: str) -> Tuple[List[dict], List[int]]:
    """Reads an AVA action list ``.pbtxt`` without protobuf.

    Both spellings of the official files are understood (``name`` +
    ``id`` for the evaluation list, ``name`` + ``label_id`` + ``label_type``
    for the full list).

    Args:
        path (str): The ``.pbtxt`` file.

    Returns:
        tuple[list[dict], list[int]]: ``[{'id': int, 'name': str}]`` in file
        order and the sorted class ids.

    Raises:
        ValueError: An ``id`` line that is not an integer, with file and line.
    """
    categories, name = [], None
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if line.startswith('name:'):
                name = line.split('"')[1]
            elif line.startswith(('id:', 'label_id:')):
                try:
                    class_id = int(line.split(':')[1])
                except ValueError:
                    raise ValueError(f'{path}:{lineno}: bad class id line '
                                     f'{line!r}') from None
                categories.append(dict(id=class_id, name=name))
    return categories, sorted(c['id'] for c in categories)


def read_exclusions(path: Optional[str]) -> set:
    """Reads the ``video_id,timestamp`` rows of an exclusion CSV.

    Args:
        path (str, optional): The file; None gives an empty set.

    Returns:
        set[str]: Excluded keyframe keys.

    Raises:
        ValueError: A row without exactly two columns, with file and line.
    """
    excluded = set()
    if path is None:
        return excluded
    with open(path, newline='') as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            if len(row) != 2:
                raise ValueError(f'{path}:{lineno}: expected 2 columns '
                                 f'(video_id,timestamp), got {row}')
            excluded.add(make_image_key(row[0], row[1]))
    return excluded


def read_ava_csv(path: str,
                 class_whitelist: Optional[Sequence[int]] = None,
                 capacity: Optional[int] = None) -> Dict[str, FrameBoxes]:
    """Reads ground-truth (7 columns) or detection (8 columns) AVA rows.

    Args:
        path (str): ``video_id,timestamp,x1,y1,x2,y2,action_id[,score]``
            rows (a ninth column, the person id of the ground truth, is
            allowed and ignored).
        class_whitelist (Sequence[int], optional): Action ids to keep.
        capacity (int, optional): Keep only the ``capacity`` best-scored
            rows per keyframe (the official evaluation uses 50 for
            detections). None keeps all.

    Returns:
        dict[str, tuple]: Per keyframe key, ``boxes`` ``(n, 4)``,
        ``labels`` ``(n,)``, ``scores`` ``(n,)`` in descending score order.

    Raises:
        ValueError: A malformed row, with file and line.
    """
    whitelist = None if class_whitelist is None else set(class_whitelist)
    rows = defaultdict(list)
    with open(path, newline='') as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            try:
                if len(row) not in (7, 8):
                    raise ValueError(
                        f'expected 7 or 8 columns, got {len(row)}')
                box = [float(v) for v in row[2:6]]
                action = int(row[6])
                score = float(row[7]) if len(row) == 8 else 1.0
                key = make_image_key(row[0], row[1])
            except ValueError as e:
                raise ValueError(f'{path}:{lineno}: {e}: {row}') from None
            if whitelist is None or action in whitelist:
                rows[key].append((score, action, box))
    out = {}
    for key, entries in rows.items():
        # Stable sort: equal scores keep file order.
        entries = sorted(entries, key=lambda e: -e[0])[:capacity]
        out[key] = (np.array([e[2] for e in entries],
                             dtype=np.float64).reshape(-1, 4),
                    np.array([e[1] for e in entries], dtype=np.int64),
                    np.array([e[0] for e in entries], dtype=np.float64))
    return out
