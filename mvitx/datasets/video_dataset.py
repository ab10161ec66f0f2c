"""Kinetics-style video datasets: ``path label`` list files and the official
Kinetics CSV files."""
import csv
import os.path as osp
from typing import Callable, List, Optional, Sequence, Union

from mvitx.registry import DATASETS
from .base_dataset import BaseActionDataset


@DATASETS.register_module()
class VideoDataset(BaseActionDataset):
    """Videos listed in a ``path label`` file or an official Kinetics CSV.

    A list file has one ``relative/path.mp4 label`` per line (the label an
    integer id or a class name from ``classes``; paths may contain spaces).
    A Kinetics CSV (``.csv``, header ``label,youtube_id,time_start,time_end,
    split``; the test split has no ``label`` column) names the clips
    ``{youtube_id}_{time_start:06d}_{time_end:06d}.mp4``, as the official
    download scripts write them; without ``classes`` the class ids are the
    sorted class names of the file.

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
        classes (str | Sequence[str], optional): Class names in id order or
            a file of them. Defaults to None.
        prior_prefix (str, optional): Folder of per-video prior files
            (joined to ``data_root`` if relative). Defaults to None.
        suffix (str): Extension of the CSV clips. Defaults to ``'.mp4'``.
        **kwargs: :class:`BaseActionDataset` and mmengine ``BaseDataset``
            arguments (``data_root``, ``test_mode``, ``on_error``, ...).

    Examples:
        >>> dataset = VideoDataset(
        ...     ann_file='kinetics400/train.csv', pipeline=[],
        ...     data_root='data', data_prefix=dict(video='kinetics400/train'))
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: Sequence[Union[dict, Callable]],
                 source: str = 'k400',
                 data_prefix: Optional[dict] = None,
                 classes: Union[str, Sequence[str], None] = None,
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
            data_prefix=data_prefix or dict(video=''),
            **kwargs)

    def _read_csv(self, prefix: str) -> List[tuple]:
        with open(self.ann_file, newline='') as f:
            rows = list(csv.DictReader(f))
        if 'label' in (rows[0] if rows else {}) and not self.class_to_id:
            names = sorted({row['label'] for row in rows})
            self._metainfo['classes'] = tuple(names)
        pairs, mapping = [], self.class_to_id
        for lineno, row in enumerate(rows, 2):
            name = (f"{row['youtube_id']}_{int(float(row['time_start'])):06d}"
                    f"_{int(float(row['time_end'])):06d}{self.suffix}")
            label = row.get('label')
            label = -1 if label is None else self.parse_label(
                label, mapping, f'{self.ann_file}:{lineno}')
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
