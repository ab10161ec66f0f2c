"""What the image and video datasets share: class-name maps, ``path label``
list files, the source name, and skipping broken files."""
import logging
import os.path as osp
from typing import Callable, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mvitx.datasets.transforms.loading import BrokenInputError


def load_class_names(
        classes: Union[str, Sequence[str], None]) -> Optional[List[str]]:
    """Class names from a list, or from a text file with one name per line
    (the line number is the class id)."""
    if classes is None or not isinstance(classes, str):
        return None if classes is None else list(classes)
    with open(classes) as f:
        return [line.strip() for line in f if line.strip()]


class BaseActionDataset(BaseDataset):
    """Base of :class:`VideoDataset` and :class:`ImageDataset`.

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
            a file of them, one per line. Defaults to None.
        on_error (str): ``'skip'`` or ``'raise'`` for broken files in
            training. Defaults to ``'skip'``.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`
            (``data_root``, ``data_prefix``, ``test_mode``, ...).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: Sequence[Union[dict, Callable]],
                 source: str,
                 modality: str,
                 classes: Union[str, Sequence[str], None] = None,
                 on_error: str = 'skip',
                 **kwargs):
        if on_error not in ('skip', 'raise'):
            raise ValueError(f"on_error must be 'skip' or 'raise', "
                             f'got {on_error!r}')
        self.source = source
        self.modality = modality
        self.on_error = on_error
        self.broken_indices = set()
        class_names = load_class_names(classes)
        metainfo = kwargs.pop('metainfo', None) or {}
        if class_names is not None:
            metainfo = dict(metainfo, classes=tuple(class_names))
        super().__init__(
            ann_file=ann_file,
            pipeline=list(pipeline),
            metainfo=metainfo,
            **kwargs)

    @property
    def class_to_id(self) -> dict:
        """Class name to id map (empty when no class names are known)."""
        return {c: i for i, c in enumerate(self.metainfo.get('classes', ()))}

    @staticmethod
    def parse_label(token: str, mapping: dict, where: str) -> int:
        """A label token: an integer id, or a class name in ``mapping``."""
        if token.lstrip('-').isdigit():
            return int(token)
        if token not in mapping:
            raise ValueError(f'{where}: unknown class {token!r} (give the '
                             'class names with `classes=`)')
        return mapping[token]

    def read_list_file(self, prefix: str) -> List[tuple]:
        """``(path, label)`` pairs of a ``path label`` list file, the path
        joined to ``prefix``; label is -1 for lines without one."""
        pairs, mapping = [], self.class_to_id
        with open(self.ann_file) as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                parts = line.rsplit(maxsplit=1)
                where = f'{self.ann_file}:{lineno}'
                label = -1 if len(parts) == 1 else self.parse_label(
                    parts[1], mapping, where)
                pairs.append((osp.join(prefix, parts[0]), label))
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
