"""Kinetics-style video datasets: ``path label`` list files and the official
Kinetics CSV files."""
import csv
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from mvitx.registry import DATASETS
from .base_dataset import BaseActionDataset, open_annotation

#: The header of the official Kinetics CSVs (the test split has no label).
KINETICS_HEADER = ('label', 'youtube_id', 'time_start', 'time_end', 'split')


def read_kinetics_csv(path: str) -> List[Tuple[int, Dict[str, str]]]:
    """The rows of a Kinetics CSV as ``(line, {column: value})``.

    The header must name ``youtube_id``, ``time_start`` and ``time_end``
    (``label`` in labelled splits; ``split`` and other columns are kept),
    and every row must have as many fields. Empty lines are skipped.

    Raises:
        ValueError: An empty file, a header without those columns, a row
            of another length, or no rows; naming ``file:line``.
    """
    expected = f'expected the header {",".join(KINETICS_HEADER)!r}'
    with open_annotation(path) as f:
        reader = csv.reader(f)
        header = [name.strip() for name in next(reader, [])]
        if not header:
            raise ValueError(f'{path}: empty file; {expected} (without '
                             "'label' in the test split)")
        missing = [name for name in KINETICS_HEADER[1:4] if name not in header]
        if missing:
            raise ValueError(f'{path}:1: header {",".join(header)!r} lacks '
                             f'{", ".join(missing)}; {expected} (without '
                             "'label' in the test split)")
        rows = []
        for row in reader:
            if not any(field.strip() for field in row):
                continue
            if len(row) != len(header):
                raise ValueError(
                    f'{path}:{reader.line_num}: {len(row)} fields, expected '
                    f'{len(header)} ({",".join(header)})')
            rows.append((reader.line_num, dict(zip(header, row))))
    if not rows:
        raise ValueError(f'{path}: no rows after the header')
    return rows


def kinetics_class_names(path: str) -> List[str]:
    """The sorted label names of a Kinetics CSV (the training split's are
    the class list of every split)."""
    rows = read_kinetics_csv(path)
    if 'label' not in rows[0][1]:
        raise ValueError(f'{path}:1: no label column to take class names '
                         f'from; expected the header '
                         f'{",".join(KINETICS_HEADER)!r}')
    return sorted({row['label'] for _, row in rows})


@DATASETS.register_module()
class VideoDataset(BaseActionDataset):
    """Videos listed in a ``path label`` file or an official Kinetics CSV.

    A list file has one ``relative/path.mp4 label`` per line, fields
    separated by whitespace: the label an integer id or a class name from
    ``classes``; a path or class name containing spaces is written in
    double quotes (``"sub dir/b c.mp4" 3``); a line of any other number of
    fields is an error. A split without labels (test) has ``path`` alone
    on every line; its label is -1, and it is accepted only with
    ``test_mode=True``.

    A Kinetics CSV (``.csv``, header ``label,youtube_id,time_start,time_end,
    split``; the test split has no ``label`` column) names the clips
    ``{youtube_id}_{time_start:06d}_{time_end:06d}.mp4``, as the official
    download scripts write them. Its labels are class names, so it needs
    ``classes``: for example the training CSV itself, whose sorted label
    names are then the class list of every split (a split missing a class
    keeps the ids of the others).

    Labels must lie in ``[0, number of classes)`` when ``classes`` or
    ``num_classes`` is given; errors name ``file:line``.

    Each sample: ``filename``, ``label`` (-1 if unknown), ``source``,
    ``modality='video'``, and ``prior_file`` =
    ``prior_prefix/<video stem>.npz`` when ``prior_prefix`` is set.

    Args:
        ann_file (str): List or CSV file (joined to ``data_root``).
        pipeline (Sequence[dict | Callable]): Transforms.
        source (str): Dataset name in every sample. Defaults to ``'k400'``.
        data_prefix (dict, optional): ``dict(video=DIR)``, the folder the
            paths are relative to (joined to ``data_root``). Defaults to
            ``dict(video='')``.
        classes (str | Sequence[str], optional): Class names in id order, a
            file of them (one a line), or a Kinetics CSV (``.csv``: its
            sorted label names); a file is joined to ``data_root`` if
            relative. Give every split the same. Defaults to None.
        num_classes (int, optional): The number of classes, for integer
            labels without ``classes`` (or as a check of it). Defaults to
            None.
        prior_prefix (str, optional): Folder of per-video prior files
            (joined to ``data_root`` if relative). Defaults to None.
        suffix (str): Extension of the CSV clips. Defaults to ``'.mp4'``.
        **kwargs: :class:`BaseActionDataset` and mmengine ``BaseDataset``
            arguments (``data_root``, ``test_mode``, ``on_error``, ...).

    Raises:
        ValueError: A malformed annotation or class file, an unknown class
            or a label out of range, naming ``file:line``.
        FileNotFoundError: A missing data root, annotation or class file.

    Examples:
        >>> dataset = VideoDataset(
        ...     ann_file='train.csv', pipeline=[], classes='train.csv',
        ...     data_root='data/kinetics400',
        ...     data_prefix=dict(video='videos_train'))
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: Sequence[Union[dict, Callable]],
                 source: str = 'k400',
                 data_prefix: Optional[dict] = None,
                 classes: Union[str, Sequence[str], None] = None,
                 num_classes: Optional[int] = None,
                 prior_prefix: Optional[str] = None,
                 suffix: str = '.mp4',
                 **kwargs):
        self.prior_prefix = prior_prefix
        self.suffix = suffix
        super().__init__(
            ann_file=ann_file,
            pipeline=pipeline,
            source=source,
            modality='video',
            classes=classes,
            num_classes=num_classes,
            data_prefix=data_prefix or dict(video=''),
            **kwargs)

    def read_class_list(self, path: str) -> List[str]:
        if path.endswith('.csv'):
            return kinetics_class_names(path)
        return super().read_class_list(path)

    def _read_csv(self, prefix: str) -> List[tuple]:
        rows = read_kinetics_csv(self.ann_file)
        if 'label' not in rows[0][1]:
            self.check_unlabelled(self.ann_file)
        pairs, mapping, count = [], self.class_to_id, self.class_count()
        for lineno, row in rows:
            where = f'{self.ann_file}:{lineno}'
            times = []
            for key in ('time_start', 'time_end'):
                try:
                    times.append(int(float(row[key])))
                except (ValueError, OverflowError):
                    raise ValueError(f'{where}: {key} {row[key]!r} is not '
                                     'a number of seconds') from None
            name = (f"{row['youtube_id']}_{times[0]:06d}_{times[1]:06d}"
                    f'{self.suffix}')
            label = row.get('label')
            label = -1 if label is None else self.parse_label(
                label, mapping, count, where)
            pairs.append((osp.join(prefix, name), label))
        return pairs

    def load_data_list(self) -> List[dict]:
        prefix = self.data_prefix.get('video', '')
        pairs = (
            self._read_csv(prefix)
            if self.ann_file.endswith('.csv') else self.read_list_file(prefix))
        prior_dir = self.prior_prefix
        if prior_dir is not None and self.data_root and not osp.isabs(
                prior_dir):
            prior_dir = osp.join(self.data_root, prior_dir)
        infos = []
        for path, label in pairs:
            info = self.make_info('filename', path, label)
            if prior_dir is not None:
                stem = osp.splitext(osp.basename(path))[0]
                info['prior_file'] = osp.join(prior_dir, stem + '.npz')
            infos.append(info)
        return infos
