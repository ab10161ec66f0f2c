"""ImageNet-style image datasets: class folders or ``path label`` lists."""
import os
import os.path as osp
from typing import Callable, List, Optional, Sequence, Union

from mvitx.registry import DATASETS
from .base_dataset import BaseActionDataset, missing_input_message
from .class_maps import read_class_map

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


@DATASETS.register_module()
class ImageDataset(BaseActionDataset):
    """Images in the ImageNet folder layout or a ``path label`` list.

    With ``ann_file=''`` the images are read from
    ``<img_path>/<class folder>/<file>`` (extensions ``.jpg``, ``.jpeg``,
    ``.png``, ``.bmp``, ``.webp``, any case); class ids follow the sorted
    folder names (the WordNet ids for ImageNet), and ``classes`` may give
    display names in that order. When ``classes`` or ``num_classes`` gives
    the number of classes, the number of folders must equal it, so a split
    that lacks a class folder is an error instead of shifted ids.

    Otherwise ``ann_file`` is a list file with one ``relative/path.JPEG
    label`` per line, in the format of :class:`VideoDataset`'s list files
    (whitespace-separated; a path or class name with spaces in double
    quotes; ``path`` alone on every line of a test split without labels;
    labels in ``[0, number of classes)`` when that number is known).

    Each sample: ``img_path``, ``label``, ``source``, ``modality='image'``.

    With ``class_map`` (the label-space bridge, ``docs/cotraining.md``) the
    images become static clips of a video source: only images of the
    classes the map lists are kept, each labelled with its video class id,
    and ``source`` names the video source, whose head they then train. An
    image stays one frame, never repeated in time: the backbone runs it as
    a one-frame clip (``T=1``), as every image. Give such a dataset its own
    entry in ``CoTrainDataset`` (its batches do not stack with the video
    source's clips).

    Args:
        ann_file (str): List file, or ``''`` for the folder layout.
        pipeline (Sequence[dict | Callable]): Transforms.
        source (str): Dataset name in every sample. Defaults to ``'in1k'``.
        data_prefix (dict, optional): ``dict(img_path=DIR)``, the image
            root (joined to ``data_root``). Defaults to
            ``dict(img_path='')``.
        classes (str | Sequence[str], optional): Class names in id order or
            a file of them, one a line (joined to ``data_root`` if
            relative). Give every split the same. Defaults to None.
        num_classes (int, optional): The number of classes, when
            ``classes`` is not given (or as a check of it). Defaults to
            None.
        class_map (str, optional): A class-map CSV from these image
            classes to the classes of the video source named by
            ``source`` (or a shipped map's file name, e.g. ``'demo.csv'``;
            :mod:`mvitx.datasets.class_maps`): relabels the mapped images
            into that source and drops the others. The map's ``src_name``
            must equal the class names given in ``classes``. Defaults to
            None (labels are the image class ids).
        **kwargs: :class:`BaseActionDataset` and mmengine ``BaseDataset``
            arguments.

    Raises:
        ValueError: A malformed list or class file, an unknown class, a
            label out of range (naming ``file:line``), a folder count
            other than the number of classes, or with ``class_map`` a map
            that does not fit the classes (naming its ``file:line``), an
            unlabelled split or no mapped image.
        FileNotFoundError: A missing data root, image folder, list or class
            file.

    Examples:
        >>> dataset = ImageDataset(
        ...     ann_file='', pipeline=[], data_root='data/imagenet',
        ...     data_prefix=dict(img_path='train'), num_classes=1000)
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: Sequence[Union[dict, Callable]],
                 source: str = 'in1k',
                 data_prefix: Optional[dict] = None,
                 classes: Union[str, Sequence[str], None] = None,
                 num_classes: Optional[int] = None,
                 class_map: Optional[str] = None,
                 **kwargs):
        self.class_map = class_map
        super().__init__(
            ann_file=ann_file,
            pipeline=pipeline,
            source=source,
            modality='image',
            classes=classes,
            num_classes=num_classes,
            data_prefix=data_prefix or dict(img_path=''),
            **kwargs)

    def _scan_folders(self, root: str) -> List[tuple]:
        if not osp.isdir(root):
            raise FileNotFoundError(
                missing_input_message(root, 'Image folder'))
        folders = sorted(e.name for e in os.scandir(root) if e.is_dir())
        if not folders:
            raise ValueError(f'no class folders in {root}')
        count = self.class_count()
        if count not in (None, len(folders)):
            raise ValueError(f'{len(folders)} class folders in {root}, but '
                             f'{count} classes (`classes`/`num_classes`)')
        if self.metainfo.get('classes') is None:
            self._metainfo['classes'] = tuple(folders)
        pairs = []
        for label, folder in enumerate(folders):
            files = sorted(os.listdir(osp.join(root, folder)))
            pairs.extend((osp.join(root, folder, f), label) for f in files
                         if f.lower().endswith(IMG_EXTENSIONS))
        if not pairs:
            raise ValueError(f'no images in the class folders of {root}')
        return pairs

    def load_data_list(self) -> List[dict]:
        prefix = self.data_prefix.get('img_path', '')
        pairs = (
            self.read_list_file(prefix)
            if self.ann_file else self._scan_folders(prefix))
        if self.class_map is not None:
            pairs = self._relabel(pairs)
        return [self.make_info('img_path', p, label) for p, label in pairs]

    def _relabel(self, pairs: List[tuple]) -> List[tuple]:
        """The images of mapped classes with their video class ids."""
        mapping = read_class_map(self.class_map)
        mapping.check(
            num_src=self.class_count(),
            src_classes=None
            if self._classes is None else self.metainfo['classes'])
        if any(label < 0 for _, label in pairs):
            raise ValueError(f'{self.ann_file}: class_map needs labelled '
                             'images')
        pairs = [(path, mapping.src_to_dst[label]) for path, label in pairs
                 if label in mapping.src_to_dst]
        if not pairs:
            raise ValueError(f'{mapping.path}: none of the images of '
                             f'{self.data_prefix.get("img_path")} is of a '
                             'mapped class')
        return pairs
