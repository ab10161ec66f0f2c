"""ImageNet-style image datasets: class folders or ``path label`` lists."""
import os
import os.path as osp
from typing import Callable, List, Optional, Sequence, Union

from mvitx.registry import DATASETS
from .base_dataset import BaseActionDataset, missing_input_message

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
        **kwargs: :class:`BaseActionDataset` and mmengine ``BaseDataset``
            arguments.

    Raises:
        ValueError: A malformed list or class file, an unknown class, a
            label out of range (naming ``file:line``), or a folder count
            other than the number of classes.
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
                 **kwargs):
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
        return [self.make_info('img_path', p, label) for p, label in pairs]
