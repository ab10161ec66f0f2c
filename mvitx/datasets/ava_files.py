"""Readers of the official AVA annotation files: the action list
(``.pbtxt``), the box CSVs (AVA v2.x and AVA-Kinetics), the
excluded-timestamps CSV and the proposal pickle. Shared by
:class:`~mvitx.datasets.AVADataset`, :class:`~mvitx.evaluation.AVAMetric`
and the AVA tools."""
import csv
import decimal
import math
import re
from collections import OrderedDict
from typing import (Dict, Iterator, List, NamedTuple, Optional, Sequence,
                    Tuple, Union)

import numpy as np

from mvitx.utils import load_pickle
from .base_dataset import open_annotation

#: ``(boxes (n, 4) xyxy normalised, labels (n,), scores (n,))`` per keyframe.
FrameBoxes = Tuple[np.ndarray, np.ndarray, np.ndarray]
#: The columns of an AVA CSV row, as its errors quote them.
AVA_COLUMNS = ('video_id,timestamp (a keyframe without actors) or '
               'video_id,timestamp,x1,y1,x2,y2,action_id[,person_id or '
               'score]')


def make_image_key(video_id: str,
                   timestamp: Union[str, int, float],
                   precise: bool = False) -> str:
    """The official keyframe key.

    Args:
        video_id (str): The video (movie or YouTube) id.
        timestamp (str | int | float): Seconds of the keyframe.
        precise (bool): Key with microseconds, as the current official
            evaluation does (``'-5KQ66BBWC4,902.000000'``; AVA-Kinetics
            keyframes are not at whole seconds), instead of the whole
            seconds of the v2.1/v2.2 evaluation, the proposal pickles and
            the exclusion files (``'-5KQ66BBWC4,0902'``). Defaults to False.

    Returns:
        str: The key.

    Raises:
        ValueError: A timestamp string that is not a number (``precise``)
            or not whole seconds.
    """
    if precise:
        try:
            # The official expression, so that keys match its files.
            return '%s,%.6f' % (video_id, decimal.Decimal(timestamp))
        except decimal.InvalidOperation:
            raise ValueError(f'timestamp {timestamp!r} is not a number '
                             '(seconds)') from None
    return f'{video_id},{int(timestamp):04d}'


#: Tokens of a ``.pbtxt`` line: a quoted string, a brace or colon, a bare
#: word, a comment, or an unterminated quote (an error).
_PBTXT_TOKEN = re.compile(r'"[^"]*"|[{}:]|[^\s{}:"#]+|#.*|"')
_LABELMAP_EXPECTED = ('item { name: "..." id: N } (or label { name: "..." '
                      'label_id: N }) blocks')


def _pbtxt_tokens(path: str) -> Iterator[Tuple[int, str]]:
    """``(line, token)`` of a ``.pbtxt`` file, comments left out."""
    with open_annotation(path) as f:
        for lineno, line in enumerate(f, 1):
            for token in _PBTXT_TOKEN.findall(line):
                if token.startswith('#'):
                    break
                yield lineno, token


def _read_item(path: str, tokens: Iterator[Tuple[int, str]],
               start: int) -> dict:
    """``key -> (value, line)`` of the name and id of one ``item { ... }``
    block up to its ``}`` (``label_id`` is stored as ``id``)."""
    item = {}
    for lineno, key in tokens:
        if key == '}':
            return item
        where = f'{path}:{lineno}'
        _, colon = next(tokens, (lineno, None))
        _, value = next(tokens, (lineno, None))
        if colon != ':' or value in (None, '{', '}', ':'):
            raise ValueError(f'{where}: expected `{key}: VALUE` inside the '
                             f'item of line {start}')
        key = 'id' if key == 'label_id' else key
        if key in item:
            raise ValueError(f'{where}: second {key} in the item of line '
                             f'{start}')
        if key == 'name':
            if len(value) < 2 or not value.startswith('"'):
                raise ValueError(f'{where}: expected a quoted name '
                                 f'(name: "..."), got {value}')
            item[key] = (value[1:-1], lineno)
        elif key == 'id':
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f'{where}: expected a class id >= 1, got '
                                 f'{value}')
            item[key] = (int(value), lineno)
    raise ValueError(f'{path}:{start}: item not closed by `}}`')


def read_labelmap(path: str) -> Tuple[List[dict], List[int]]:
    """Reads an AVA action list ``.pbtxt`` without protobuf.

    Both spellings of the official files are understood (``item`` blocks
    of ``name`` + ``id`` for the evaluation list, ``label`` blocks of
    ``name`` + ``label_id`` + ``label_type`` for the full list); other keys
    and ``#`` comments are ignored.

    Args:
        path (str): The ``.pbtxt`` file.

    Returns:
        tuple[list[dict], list[int]]: ``[{'id': int, 'name': str}]`` in file
        order and the sorted class ids.

    Raises:
        ValueError: With file and line: text outside the blocks, an item
            without a quoted ``name`` or without a positive integer ``id``,
            an id used twice, or a file without items.
    """
    categories, first = [], {}
    tokens = _pbtxt_tokens(path)
    for lineno, token in tokens:
        _, opening = next(tokens, (lineno, None))
        if token not in ('item', 'label') or opening != '{':
            raise ValueError(f'{path}:{lineno}: expected {_LABELMAP_EXPECTED}'
                             f', got {token!r}')
        item = _read_item(path, tokens, lineno)
        for key, spelling in (('name', 'name: "..."'),
                              ('id', 'id: N or label_id: N')):
            if key not in item:
                raise ValueError(f'{path}:{lineno}: item has no {key} '
                                 f'(expected {spelling})')
        (name, _), (class_id, id_line) = item['name'], item['id']
        if class_id in first:
            raise ValueError(f'{path}:{id_line}: class id {class_id} of '
                             f'{name!r} is already used at line '
                             f'{first[class_id]}')
        first[class_id] = id_line
        categories.append(dict(id=class_id, name=name))
    if not categories:
        raise ValueError(f'{path}: no classes; expected {_LABELMAP_EXPECTED}')
    return categories, sorted(first)


def read_proposals(path: str,
                   tolerance: float = 0.01) -> Dict[str, np.ndarray]:
    """Reads and checks a pickled AVA proposal file.

    The file (loaded with :func:`mvitx.utils.load_pickle`, which runs no
    code) is a dict ``"video_id,timestamp" -> (N, 5)`` normalised ``x1, y1,
    x2, y2, score`` (``(N, 4)`` is read as score 1; an empty value as no
    proposal).

    Args:
        path (str): The ``.pkl`` file.
        tolerance (float): Coordinates this far outside ``[0, 1]`` are
            clipped into it, farther ones are an error. Defaults to 0.01.

    Returns:
        dict[str, np.ndarray]: ``(N, 5)`` float32 per keyframe key
        (:func:`make_image_key`).

    Raises:
        PickleSafetyError: The file is damaged or would run code.
        ValueError: With file and key: not such a dict, a value of another
            shape, NaN or inf, coordinates outside ``[0, 1]`` (pixel
            coordinates), ``x1 > x2`` or ``y1 > y2``, or a score outside
            ``[0, 1]``.
    """
    proposals = load_pickle(path)
    if not isinstance(proposals, dict):
        raise ValueError(f'{path}: expected a dict "video_id,timestamp" -> '
                         f'(N, 5) array, got {type(proposals).__name__}')
    out = {}
    for key, value in proposals.items():
        where = f'{path}:{key!r}'
        try:
            video_id, ts = key.rsplit(',', 1)
            image_key = make_image_key(video_id, ts)
        except (AttributeError, ValueError):
            raise ValueError(f'{where}: expected a key "video_id,timestamp" '
                             '(timestamp: whole seconds)') from None
        try:
            value = np.asarray(value, np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f'{where}: expected an (N, 5) array of numbers: '
                             f'{err}') from None
        if value.size == 0:
            value = value.reshape(0, 5)
        if value.ndim != 2 or value.shape[1] not in (4, 5):
            raise ValueError(f'{where}: expected (N, 5) x1, y1, x2, y2, '
                             f'score or (N, 4) boxes, got {value.shape}')
        if value.shape[1] == 4:
            value = np.concatenate([value, np.ones((len(value), 1))], 1)
        boxes, scores = value[:, :4], value[:, 4]
        checks = (
            (~np.isfinite(value).all(1), 'has NaN or inf'),
            ((boxes > 1 + tolerance).any(1),
             'has coordinates above 1: they look like pixels and must be '
             'normalised by the frame size (x / width, y / height)'),
            ((boxes < -tolerance).any(1),
             'has coordinates below 0; boxes must be normalised to [0, 1]'),
            ((boxes[:, 2:] < boxes[:, :2]).any(1),
             'is not ordered: expected x1 <= x2 and y1 <= y2'),
            ((scores < 0) | (scores > 1), 'has a score outside [0, 1]'),
        )
        for bad, problem in checks:
            if bad.any():
                row = int(bad.argmax())
                raise ValueError(f'{where}: row {row} {value[row].tolist()} '
                                 f'{problem}')
        value[:, :4] = boxes.clip(0, 1)
        out[image_key] = value.astype(np.float32)
    return out


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
    with open_annotation(path) as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            if len(row) != 2:
                raise ValueError(f'{path}:{lineno}: expected 2 columns '
                                 f'(video_id,timestamp), got {row}')
            excluded.add(make_image_key(row[0], row[1]))
    return excluded


class AVARow(NamedTuple):
    """One row of an AVA CSV (:func:`read_ava_rows`)."""
    #: Line number in the file (from 1).
    line: int
    #: Keyframe key (:func:`make_image_key`).
    key: str
    video_id: str
    #: Seconds: ``int`` (whole seconds) or ``float`` (``precise``).
    timestamp: Union[int, float]
    #: Normalised ``(x1, y1, x2, y2)``; None in a 2-column row.
    box: Optional[Tuple[float, float, float, float]]
    #: Action id; None in a 2-column row.
    action: Optional[int]
    #: The eighth column, person id (ground truth) or score (detections);
    #: None without it.
    last: Optional[float]


def read_ava_rows(path: str, precise: bool = False) -> Iterator[AVARow]:
    """Reads and checks the rows of an AVA CSV (empty lines skipped).

    A row is ``video_id,timestamp,x1,y1,x2,y2,action_id`` with an optional
    eighth column (the person id of the ground truth, the score of
    detections), or ``video_id,timestamp`` alone: a keyframe without
    actors, as the current official files (AVA-Kinetics) list the
    keyframes that have none. Boxes are returned as written; their order
    and range are the caller's to check.

    Args:
        path (str): The CSV (UTF-8, with or without a byte-order mark).
        precise (bool): Timestamps are any seconds (AVA-Kinetics: the
            second of the YouTube video, with microseconds) and keys
            precise; otherwise timestamps must be whole seconds (AVA v2.x)
            and keys are whole seconds. See :func:`make_image_key`.
            Defaults to False.

    Yields:
        AVARow: One per row.

    Raises:
        ValueError: With ``file:line`` and the row: another number of
            columns, a timestamp that is not a finite number (or not whole
            seconds without ``precise``), a box coordinate, action id or
            eighth column that is not a number.
    """
    with open_annotation(path) as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            try:
                if len(row) not in (2, 7, 8):
                    raise ValueError(f'expected 2, 7 or 8 columns '
                                     f'({AVA_COLUMNS}), got {len(row)}')
                if precise:
                    timestamp = float(row[1])
                    if not math.isfinite(timestamp):
                        raise ValueError(f'timestamp {row[1]!r} is not a '
                                         'finite number of seconds')
                elif re.fullmatch(r'\s*\d+\s*', row[1]):
                    timestamp = int(row[1])
                else:
                    raise ValueError(
                        f'timestamp {row[1]!r} is not whole seconds (AVA '
                        'v2.x; fractional AVA-Kinetics timestamps need the '
                        "current protocol, protocol='latest')")
                key = make_image_key(row[0], row[1], precise)
                box = action = last = None
                if len(row) > 2:
                    box = tuple(float(v) for v in row[2:6])
                    action = int(row[6])
                    last = float(row[7]) if len(row) == 8 else None
            except ValueError as err:
                raise ValueError(f'{path}:{lineno}: {err}: {row}') from None
            yield AVARow(lineno, key, row[0], timestamp, box, action, last)


def read_ava_csv(path: str,
                 class_whitelist: Optional[Sequence[int]] = None,
                 capacity: Optional[int] = None,
                 precise: bool = False) -> Dict[str, FrameBoxes]:
    """Reads ground-truth or detection rows (:func:`read_ava_rows`) per
    keyframe.

    Every keyframe of the file has an entry, also one listed by a
    2-column row only or whose rows are all outside ``class_whitelist``
    (then with no box): the current official evaluation counts the
    detections on every keyframe the ground truth lists.

    Args:
        path (str): The CSV; the eighth column is the score (1 without
            it; in ground truth it is the person id and unused).
        class_whitelist (Sequence[int], optional): Action ids to keep.
        capacity (int, optional): Keep only the ``capacity`` best-scored
            rows per keyframe (the official evaluation uses 50 for
            detections). None keeps all.
        precise (bool): Timestamps and keys with microseconds (see
            :func:`read_ava_rows`). Defaults to False.

    Returns:
        dict[str, tuple]: Per keyframe key, ``boxes`` ``(n, 4)``,
        ``labels`` ``(n,)``, ``scores`` ``(n,)`` in descending score order.

    Raises:
        ValueError: A malformed row, with file and line.
    """
    whitelist = None if class_whitelist is None else set(class_whitelist)
    rows = OrderedDict()
    for row in read_ava_rows(path, precise):
        entries = rows.setdefault(row.key, [])
        if row.action is not None and (whitelist is None
                                       or row.action in whitelist):
            score = 1.0 if row.last is None else row.last
            entries.append((score, row.action, row.box))
    out = {}
    for key, entries in rows.items():
        # Stable sort: equal scores keep file order.
        entries = sorted(entries, key=lambda e: -e[0])[:capacity]
        out[key] = (np.array([e[2] for e in entries],
                             dtype=np.float64).reshape(-1, 4),
                    np.array([e[1] for e in entries], dtype=np.int64),
                    np.array([e[0] for e in entries], dtype=np.float64))
    return out
