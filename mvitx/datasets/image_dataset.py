"""ImageNet-style image datasets: class folders or ``path label`` lists."""
import os
import os.path as osp
from typing import Callable, List, Optional, Sequence, Union

from mvitx.registry import DATASETS
from .base_dataset import BaseActionDataset

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


@DATASETS.register_module()
class ImageDataset(BaseActionDataset):
    """Images in the ImageNet folder layout or a ``path label`` list.

    With ``ann_file=''`` the images are read from
    ``<img_path>/<class folder>/<file>`` (extensions ``.jpg``, ``.jpeg``,
    ``.png``, ``.bmp``, ``.webp``, any case); class ids follow the sorted
    folder names (the WordNet ids for ImageNet), and ``classes`` may give
    display names in that order. Otherwise ``ann_file`` is a list file with
    one ``relative/path.JPEG label`` per line.

    Each sample: ``img_path``, ``label``, ``source``, ``modality='image'``.

    Args:
        ann_file (str): List file, or ``''`` for the folder layout.
        pipeline (Sequence[dict | Callable]): Transforms.
        source (str): Dataset name in every sample. Defaults to ``'in1k'``.
        data_prefix (dict, optional): ``dict(img_path=DIR)``, the image
            root (joined to ``data_root``). Defaults to
            ``dict(img_path='')``.
        classes (str | Sequence[str], optional): Class names in id order or
            a file of them. Defaults to None.
        **kwargs: :class:`BaseActionDataset` and mmengine ``BaseDataset``
            arguments.

    Examples:
        >>> dataset = ImageDataset(
        ...     ann_file='', pipeline=[], data_root='data/imagenet',
        ...     data_prefix=dict(img_path='train'))
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: Sequence[Union[dict, Callable]],
                 source: str = 'in1k',
                 data_prefix: Optional[dict] = None,
                 classes: Union[str, Sequence[str], None] = None,
                 **kwargs):
        super().__init__(
            ann_file=ann_file,
            pipeline=pipeline,
            source=source,
            modality='image',
            classes=classes,
            data_prefix=data_prefix or dict(img_path=''),
            **kwargs)

    def _scan_folders(self, root: str) -> List[tuple]:
        folders = sorted(e.name for e in os.scandir(root) if e.is_dir())
        if not folders:
            raise ValueError(f'no class folders in {root}')
        names = self.metainfo.get('classes')
        if names is not None and len(names) != len(folders):
            raise ValueError(f'{len(names)} class names for {len(folders)} '
                             f'class folders in {root}')
        if names is None:
            self._metainfo['classes'] = tuple(folders)
        pairs = []
        for label, folder in enumerate(folders):
            files = sorted(os.listdir(osp.join(root, folder)))
            pairs.extend((osp.join(root, folder, f), label) for f in files
                         if f.lower().endswith(IMG_EXTENSIONS))
        return pairs

    def load_data_list(self) -> List[dict]:
        prefix = self.data_prefix.get('img_path', '')
        pairs = (
            self.read_list_file(prefix)
            if self.ann_file else self._scan_folders(prefix))
        return [self.make_info('img_path', p, label) for p, label in pairs]
