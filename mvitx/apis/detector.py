"""The mmdet detector set-up shared by the prior extractor
(:class:`~mvitx.apis.PriorExtractor`) and the AVA inference
(:func:`~mvitx.apis.inference_detector`).

mmdet is an optional extra (``pip install "mvitx[priors]"``), imported when
a detector is built.
"""
import os.path as osp
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mvitx.utils import install_safe_checkpoint_loader

MMDET_INSTALL_HINT = ('an mmdet detector needs mmdet: '
                      'pip install "mvitx[priors]"')


def class_key(name: str) -> str:
    """A detector class name as compared with class lists: lower case,
    ``_`` as space (mmdet's checkpoints say ``'cell phone'``, its default
    classes without a checkpoint ``'cell_phone'``)."""
    return str(name).lower().replace('_', ' ')


def mmdet_config_path(config: str) -> str:
    """The file of an mmdet config: ``config`` itself when it is a file,
    else the config of that name shipped with mmdet (``mmdet/.mim/configs``,
    e.g. ``'rtmdet/rtmdet_tiny_8xb32-300e_coco.py'``).

    Args:
        config (str): A config file or the path of a shipped config under
            mmdet's ``configs/``.

    Returns:
        str: The config file.

    Raises:
        ImportError: mmdet is not installed.
        FileNotFoundError: Neither exists; the message names both places.
    """
    if osp.isfile(config):
        return config
    try:
        import mmdet
    except ImportError as err:
        raise ImportError(f'{MMDET_INSTALL_HINT} ({err})') from err
    shipped = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', config)
    if not osp.isfile(shipped):
        raise FileNotFoundError(
            f'mmdet config {config!r} is neither a file nor one of the '
            f'configs shipped with mmdet (looked for {shipped})')
    return shipped


def init_mmdet_detector(config: Union[str, Config],
                        checkpoint: Optional[str] = None,
                        device: Union[str, torch.device] = 'cpu') -> nn.Module:
    """Builds an mmdet detector through ``mmdet.apis.init_detector`` in
    mmdet's registry scope.

    The checkpoint goes through mvitx's safe loader
    (:func:`~mvitx.utils.install_safe_checkpoint_loader`:
    ``weights_only=True`` and mmengine's allowlist; OpenMMLab checkpoints
    hold numpy objects that torch >= 2.6 refuses by default). The default
    scope the caller had is current again afterwards.

    Args:
        config (str | Config): An mmdet config file, the name of a config
            shipped with mmdet (see :func:`mmdet_config_path`) or a loaded
            config.
        checkpoint (str, optional): mmdet checkpoint; its
            ``meta.dataset_meta`` gives the class names. None keeps the
            random initialisation and mmdet's COCO class names (for tests).
            Defaults to None.
        device (str | torch.device): Where the detector runs. Defaults to
            ``'cpu'``.

    Returns:
        nn.Module: The detector, in eval mode, with ``cfg`` and
        ``dataset_meta`` (``classes``).

    Raises:
        ImportError: mmdet is not installed.
        FileNotFoundError: An unknown config.
        CheckpointError: A checkpoint that is missing, damaged or refused by
            the safe loader.
    """
    try:
        from mmdet.apis import init_detector
    except ImportError as err:
        raise ImportError(f'{MMDET_INSTALL_HINT} ({err})') from err
    if not isinstance(config, Config):
        config = mmdet_config_path(config)
    install_safe_checkpoint_loader()
    with DefaultScope.overwrite_default_scope('mmdet'):
        return init_detector(config, checkpoint, device=str(device))
