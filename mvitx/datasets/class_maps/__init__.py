"""Class maps between an image and a video label space (the label-space
bridge of co-training, ``docs/cotraining.md``), and the maps shipped with
mvitx.

A class map is a CSV file. Lines starting with ``#`` are comments (the
shipped maps say there how they were made and reviewed); the first other
line is the header :data:`COLUMNS`; every further line pairs one source
(image) class with one destination (video) class::

    # made by tools/data/make_class_map.py, reviewed by hand
    src_id,src_name,dst_id,dst_name,confidence,method,reviewed
    402,acoustic guitar,263,playing guitar,0.5,token,yes

``tools/data/make_class_map.py`` (:mod:`.matching`) writes candidate pairs
with ``reviewed=no``; a person deletes the wrong rows and sets
``reviewed=yes`` on the rest. Several image classes may map to one video
class; an image class maps to at most one video class.
"""
import csv
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from ..base_dataset import open_annotation

#: The header of a class-map file.
COLUMNS = ('src_id', 'src_name', 'dst_id', 'dst_name', 'confidence', 'method',
           'reviewed')
#: The folder of the maps shipped with mvitx (package data).
SHIPPED_DIR = osp.dirname(osp.abspath(__file__))


def shipped_maps() -> List[str]:
    """File names of the maps shipped in :data:`SHIPPED_DIR`."""
    return sorted(f for f in os.listdir(SHIPPED_DIR) if f.endswith('.csv'))


def resolve_class_map(path: str) -> str:
    """The file of a class map: ``path`` itself when it exists, else the
    shipped map of that file name (``'in1k_k400.csv'``).

    Raises:
        FileNotFoundError: Neither exists; the message lists the shipped
            maps.
    """
    if osp.isfile(path):
        return path
    if osp.basename(path) == path and osp.isfile(osp.join(SHIPPED_DIR, path)):
        return osp.join(SHIPPED_DIR, path)
    raise FileNotFoundError(
        f'class map {path} does not exist (nor is it one of the maps '
        f'shipped in {SHIPPED_DIR}: {", ".join(shipped_maps())})')


@dataclass(frozen=True)
class ClassMap:
    """Pairs of (image) source class and (video) destination class ids.

    Attributes:
        path (str): The file it was read from.
        src_to_dst (dict[int, int]): Source id to destination id.
        src_names (dict[int, str]): Source id to its name in the file.
        dst_names (dict[int, str]): Destination id to its name in the file.
        lines (dict[int, int]): Source id to its line in the file (for
            errors).
    """
    path: str
    src_to_dst: Dict[int, int]
    src_names: Dict[int, str]
    dst_names: Dict[int, str]
    lines: Dict[int, int]

    def check(self,
              num_src: Optional[int] = None,
              num_dst: Optional[int] = None,
              src_classes: Optional[Sequence[str]] = None,
              dst_classes: Optional[Sequence[str]] = None) -> None:
        """Checks the ids against the sizes of both label spaces and, when
        given, the names against the class lists.

        Args:
            num_src (int, optional): Number of source classes.
            num_dst (int, optional): Number of destination classes.
            src_classes (Sequence[str], optional): Source names in id order.
            dst_classes (Sequence[str], optional): Destination names in id
                order.

        Raises:
            ValueError: An id out of range or a name other than the class
                list's, naming ``file:line``.
        """
        if src_classes is not None:
            num_src = len(src_classes) if num_src is None else num_src
        if dst_classes is not None:
            num_dst = len(dst_classes) if num_dst is None else num_dst
        spaces = (('src', num_src, src_classes, self.src_names),
                  ('dst', num_dst, dst_classes, self.dst_names))
        for src, dst in self.src_to_dst.items():
            where = f'{self.path}:{self.lines[src]}'
            for (key, count, names,
                 file_names), value in zip(spaces, (src, dst)):
                if count is not None and value >= count:
                    raise ValueError(f'{where}: {key}_id {value} outside '
                                     f'[0, {count}) of the {key} classes')
                name = file_names[value]
                if names is not None and names[value] != name:
                    raise ValueError(
                        f'{where}: {key}_name {name!r}, but class {value} '
                        f'of the {key} class list is {names[value]!r} (a '
                        'map made for another class list or order?)')


def _parse_id(value: str, key: str, where: str) -> int:
    if not value.strip().isdigit():
        raise ValueError(f'{where}: {key} {value!r}; expected an integer '
                         'class id >= 0')
    return int(value)


def read_class_map(path: str) -> ClassMap:
    """Reads a class-map file (see the module doc).

    Args:
        path (str): A map file, or the file name of a shipped map
            (:func:`resolve_class_map`).

    Returns:
        ClassMap: The pairs, every row reviewed.

    Raises:
        FileNotFoundError: No such file or shipped map.
        ValueError: A header other than :data:`COLUMNS`, a row of another
            number of fields, a non-integer id, a row not reviewed
            (``reviewed`` other than ``yes``), an image class mapped twice,
            one video id under two names, or no rows; naming
            ``file:line``.
    """
    path = resolve_class_map(path)
    src_to_dst, src_names, dst_names, lines = {}, {}, {}, {}
    header_seen = False
    with open_annotation(path) as f:
        for lineno, line in enumerate(f, 1):
            where = f'{path}:{lineno}'
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            fields = [v.strip() for v in next(csv.reader([line]))]
            if not header_seen:
                if tuple(fields) != COLUMNS:
                    raise ValueError(f'{where}: header {fields}; expected '
                                     f'{",".join(COLUMNS)}')
                header_seen = True
                continue
            if len(fields) != len(COLUMNS):
                raise ValueError(f'{where}: {len(fields)} fields; expected '
                                 f'{len(COLUMNS)} ({",".join(COLUMNS)})')
            row = dict(zip(COLUMNS, fields))
            src = _parse_id(row['src_id'], 'src_id', where)
            dst = _parse_id(row['dst_id'], 'dst_id', where)
            if row['reviewed'] != 'yes':
                raise ValueError(
                    f'{where}: reviewed={row["reviewed"]!r}; review the pair '
                    'and set reviewed=yes, or delete the row')
            if src in src_to_dst:
                raise ValueError(
                    f'{where}: src_id {src} mapped again (first on line '
                    f'{lines[src]}); an image class maps to one video class')
            if dst_names.get(dst, row['dst_name']) != row['dst_name']:
                raise ValueError(f'{where}: dst_id {dst} named '
                                 f'{row["dst_name"]!r}, elsewhere '
                                 f'{dst_names[dst]!r}')
            src_to_dst[src] = dst
            src_names[src] = row['src_name']
            dst_names[dst] = row['dst_name']
            lines[src] = lineno
    if not src_to_dst:
        raise ValueError(f'{path}: no pairs; expected the header '
                         f'{",".join(COLUMNS)} and one row per pair')
    return ClassMap(path, src_to_dst, src_names, dst_names, lines)
