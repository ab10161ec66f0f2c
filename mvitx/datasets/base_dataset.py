"""What the image, video and AVA datasets share: annotation text files
(byte-order mark accepted), class lists, ``path label`` list files and their
checks, the source name, a clear error for missing data, and skipping
broken files."""
import logging
import os.path as osp
import re
import shlex
from collections import Counter
from typing import Callable, List, Optional, Sequence, TextIO, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mvitx.datasets.transforms.loading import BrokenInputError

#: The rule of list files, quoted by their errors.
LIST_FORMAT = ('one `path label` per line, or `path` alone in every line '
               'of a split without labels; a path or class name with '
               'spaces in double quotes ("a b.mp4" 3)')


def open_annotation(path: str) -> TextIO:
    """Opens an annotation or class-list file as UTF-8 text, with or without
    a byte-order mark (spreadsheets save "CSV UTF-8" with one); line ends
    are left to the reader (``newline=''``, as :mod:`csv` needs)."""
    return open(path, encoding='utf-8-sig', newline='')


def read_names_file(path: str) -> List[str]:
    """Class names, one per line (the line number among the non-empty lines
    is the class id).

    Raises:
        ValueError: An empty file or a repeated name, naming ``file:line``.
    """
    names, first_line = [], {}
    with open_annotation(path) as f:
        for lineno, line in enumerate(f, 1):
            name = line.strip()
            if not name:
                continue
            if name in first_line:
                raise ValueError(f'{path}:{lineno}: class {name!r} repeated '
                                 f'(first on line {first_line[name]})')
            first_line[name] = lineno
            names.append(name)
    if not names:
        raise ValueError(f'{path}: no class names; expected one a line')
    return names


def missing_input_message(path: str, what: str) -> str:
    """The error for a data folder or annotation file that does not exist;
    for the built-in demo data it says which command creates it."""
    message = f'{what} {path} does not exist'
    if 'demo' in osp.normpath(path).split(osp.sep):
        message += (' (the demo data: create it with `python '
                    'tools/data/make_demo_data.py --out data/demo`)')
    return message


def split_list_line(line: str, where: str) -> List[str]:
    """The whitespace-separated fields of a list-file line; double quotes
    keep spaces in a field."""
    if '"' not in line:
        return line.split()
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split, lexer.quotes = True, '"'
    lexer.commenters = lexer.escape = ''
    try:
        return list(lexer)
    except ValueError as err:  # an unclosed quote
        raise ValueError(f'{where}: {err}; expected {LIST_FORMAT}') from None


class BaseActionDataset(BaseDataset):
    """Base of :class:`VideoDataset`, :class:`ImageDataset` and
    :class:`AVADataset`.

    Before reading annotations it checks that ``data_root`` and
    ``ann_file`` exist and raises a ``FileNotFoundError`` naming the missing
    one (and, for the demo data, the command that creates it). Annotation
    and class-list files are read as UTF-8 with or without a byte-order
    mark.

    The class list is read once, from ``classes``, and is the same for
    every split that is given the same ``classes``; it is never derived
    from a split's own file. Labels are integer ids or class names of that
    list; every label must lie in ``[0, number of classes)`` when the list
    or ``num_classes`` gives that number (otherwise only negatives are
    refused). Errors name ``file:line`` and what was expected.

    A sample whose file cannot be opened or decoded (the pipeline raises
    :class:`~mvitx.datasets.transforms.loading.BrokenInputError`) is, in
    training with ``on_error='skip'``, logged once as a warning with its
    name and the running count of distinct broken files this process has
    met (``broken_indices``), and replaced by another random sample
    (mmengine refetches when the pipeline returns None; a known broken
    index is not decoded again). In test mode, or with ``on_error='raise'``,
    the error is raised; its message names the file.

    Args:
        ann_file (str): Annotation file.
        pipeline (Sequence[dict | Callable]): Transforms.
        source (str): Dataset name written into every sample (``'k400'``,
            ``'in1k'``); co-training picks heads by it.
        modality (str): ``'video'`` or ``'image'``.
        classes (str | Sequence[str], optional): Class names in id order, or
            a file of them, one per line (joined to ``data_root`` if
            relative); subclasses may read more kinds of file. Give every
            split the same. Defaults to None.
        num_classes (int, optional): The number of classes, when
            ``classes`` is not given (integer labels), or as a check of it.
            Defaults to None.
        on_error (str): ``'skip'`` or ``'raise'`` for broken files in
            training. Defaults to ``'skip'``.
        samples_per_class (int, optional): Keep only the first this many
            samples of each class, in annotation-file order (low-data
            studies: the co-training positive control trains on a few videos
            per class, ``docs/cotraining.md``); samples need a ``label``.
            None keeps all. Defaults to None.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`
            (``data_root``, ``data_prefix``, ``test_mode``, ...).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: Sequence[Union[dict, Callable]],
                 source: str,
                 modality: str,
                 classes: Union[str, Sequence[str], None] = None,
                 num_classes: Optional[int] = None,
                 on_error: str = 'skip',
                 samples_per_class: Optional[int] = None,
                 **kwargs):
        if on_error not in ('skip', 'raise'):
            raise ValueError(f"on_error must be 'skip' or 'raise', "
                             f'got {on_error!r}')
        if num_classes is not None and (not isinstance(num_classes, int)
                                        or num_classes < 1):
            raise ValueError('num_classes must be a positive integer, got '
                             f'{num_classes!r}')
        if samples_per_class is not None and (not isinstance(
                samples_per_class, int) or samples_per_class < 1):
            raise ValueError('samples_per_class must be a positive integer '
                             f'or None, got {samples_per_class!r}')
        self.samples_per_class = samples_per_class
        self.source = source
        self.modality = modality
        self.on_error = on_error
        self.broken_indices = set()
        self._classes = classes
        self._num_classes = num_classes
        super().__init__(ann_file=ann_file, pipeline=list(pipeline), **kwargs)

    def full_init(self) -> None:
        if not self._fully_initialized:
            if self.data_root and not osp.isdir(self.data_root):
                raise FileNotFoundError(
                    missing_input_message(self.data_root, 'Data root'))
            if self.ann_file and not osp.isfile(self.ann_file):
                raise FileNotFoundError(
                    missing_input_message(self.ann_file, 'Annotation file'))
            self._load_classes()
        super().full_init()

    def filter_data(self) -> List[dict]:
        """The annotations' samples, or the first ``samples_per_class`` of
        each class."""
        data_list = super().filter_data()
        if self.samples_per_class is None:
            return data_list
        kept, seen = [], Counter()
        for index, info in enumerate(data_list):
            label = info.get('label')
            if not isinstance(label, int) or label < 0:
                raise ValueError(
                    f'{self.ann_file}: samples_per_class keeps samples by '
                    f'class, but sample {index} has no single integer label')
            if seen[label] < self.samples_per_class:
                kept.append(info)
                seen[label] += 1
        return kept

    def _load_classes(self) -> None:
        """Puts the class names of ``classes`` into the metainfo and checks
        them against ``num_classes``."""
        if self._classes is None:
            return
        where = 'classes'
        if isinstance(self._classes, str):
            where = self._classes
            if self.data_root and not osp.isabs(where):
                where = osp.join(self.data_root, where)
            if not osp.isfile(where):
                raise FileNotFoundError(
                    missing_input_message(where, 'Class list'))
            names = self.read_class_list(where)
        else:
            names = list(self._classes)
        if self._num_classes not in (None, len(names)):
            raise ValueError(f'{where}: {len(names)} class names, but '
                             f'num_classes={self._num_classes}')
        self._metainfo['classes'] = tuple(names)

    def read_class_list(self, path: str) -> List[str]:
        """The class names in the file ``path`` (one a line); subclasses
        read more kinds of file."""
        return read_names_file(path)

    @property
    def class_to_id(self) -> dict:
        """Class name to id map (empty when no class names are known)."""
        return {c: i for i, c in enumerate(self.metainfo.get('classes', ()))}

    def class_count(self) -> Optional[int]:
        """The number of classes (from the class list or ``num_classes``),
        or None when neither is known."""
        names = self._metainfo.get('classes')
        return self._num_classes if names is None else len(names)

    @staticmethod
    def parse_label(token: str, mapping: dict, count: Optional[int],
                    where: str) -> int:
        """A label token, an integer id or a class name in ``mapping``, as
        an id in ``[0, count)`` (``count`` None: any id >= 0).

        Raises:
            ValueError: An unknown name or an id out of range, naming
                ``where``.
        """
        if re.fullmatch(r'[+-]?\d+', token):
            label = int(token)
            if label < 0 or (count is not None and label >= count):
                bound = 'num_classes' if count is None else count
                raise ValueError(
                    f'{where}: label {label} outside [0, {bound}) (a split '
                    'without labels leaves the label out in every line)')
            return label
        if not mapping:
            raise ValueError(
                f'{where}: class name {token!r} but no class list; give '
                '`classes=` (a list, a file of names one a line, or for '
                'Kinetics the training CSV), the same for every split')
        if token not in mapping:
            raise ValueError(f'{where}: unknown class {token!r}, not in the '
                             f'{len(mapping)} names of `classes`')
        return mapping[token]

    def check_unlabelled(self, where: str) -> None:
        """Refuses annotations without labels outside test mode."""
        if not self.test_mode:
            raise ValueError(f'{where}: no labels, but this is a training '
                             'dataset (a split without labels needs '
                             '`test_mode=True`)')

    def read_list_file(self, prefix: str) -> List[tuple]:
        """``(path, label)`` pairs of a list file, the paths joined to
        ``prefix``.

        A line is ``path label`` or, in a file without labels (a test
        split), ``path`` in every line (label -1); fields are separated by
        whitespace, and double quotes keep spaces in a path or class name
        (``"sub dir/b c.mp4" "tying bow tie"``). Empty lines are skipped.

        Raises:
            ValueError: A line of other fields, a mix of lines with and
                without labels, an unknown class, a label out of range, no
                lines, or no labels in training; naming ``file:line``.
        """
        pairs, labelled, first = [], None, 0
        mapping, count = self.class_to_id, self.class_count()
        with open_annotation(self.ann_file) as f:
            for lineno, line in enumerate(f, 1):
                where = f'{self.ann_file}:{lineno}'
                fields = split_list_line(line, where)
                if not fields:
                    continue
                if len(fields) > 2:
                    raise ValueError(f'{where}: {len(fields)} fields '
                                     f'{fields}; expected {LIST_FORMAT}')
                if labelled is None:
                    labelled, first = len(fields) == 2, lineno
                elif labelled != (len(fields) == 2):
                    state = 'has a label' if labelled else 'has none'
                    raise ValueError(
                        f'{where}: {len(fields)} field(s), but line {first} '
                        f'{state}; expected {LIST_FORMAT}')
                label = self.parse_label(fields[1], mapping, count,
                                         where) if labelled else -1
                pairs.append((osp.join(prefix, fields[0]), label))
        if not pairs:
            raise ValueError(f'{self.ann_file}: no samples; expected '
                             f'{LIST_FORMAT}')
        if not labelled:
            self.check_unlabelled(self.ann_file)
        return pairs

    def make_info(self, path_key: str, path: str, label: int) -> dict:
        return {
            path_key: path,
            'label': label,
            'source': self.source,
            'modality': self.modality
        }

    def prepare_data(self, idx: int) -> Optional[dict]:
        if idx in self.broken_indices and not self.test_mode:
            return None  # known broken: mmengine draws another index
        try:
            return super().prepare_data(idx)
        except BrokenInputError as err:
            if self.test_mode or self.on_error == 'raise':
                raise
            self.broken_indices.add(idx)
            print_log(
                f'Skipped broken file {err.filename} ({err.reason}); '
                f'{len(self.broken_indices)} broken file(s) skipped so far '
                f'by this {self.source} dataset process',
                logger='current',
                level=logging.WARNING)
            return None
