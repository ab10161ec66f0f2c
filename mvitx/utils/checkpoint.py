"""Safe checkpoint loading for mmengine on torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True``, which refuses the numpy
arrays and ``HistoryBuffer`` objects mmengine stores in its checkpoints, so
mmengine 0.10.7 cannot resume its own runs. Loading with
``weights_only=False`` would let a checkpoint run arbitrary code. Instead
mvitx keeps ``weights_only=True`` and allows exactly the globals mmengine's
checkpoints hold.
"""
import os.path as osp
import pickle
import re
import zipfile

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader


class CheckpointError(RuntimeError):
    """A checkpoint file that is missing, damaged or unsafe to load."""


#: The statistics ``HistoryBuffer`` keeps bound in every instance.
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'mean', 'current')


def _history_buffer_getattr(obj, name):
    """Stands in for ``builtins.getattr`` while unpickling.

    Python pickles ``HistoryBuffer.statistics_methods`` (bound to the class
    functions ``min``/``max``/``mean``/``current``) as
    ``getattr(HistoryBuffer, 'min')``; a general ``getattr`` would open the
    unpickler to arbitrary attribute chains, so only these are served.
    """
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed in a checkpoint')


def _numpy_globals() -> list:
    multiarray = np.core.multiarray
    dtype_classes = [type(np.dtype(t)) for t in np.sctypeDict.values()]
    return [
        multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
        *dict.fromkeys(dtype_classes)
    ]


#: Globals an mmengine checkpoint may reference, beyond torch's defaults.
SAFE_GLOBALS = [
    HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'),
    *_numpy_globals()
]


def _is_refused_global(err: pickle.UnpicklingError) -> bool:
    return re.search(r'unsupported global|is not allowed', str(err),
                     re.IGNORECASE) is not None


def load_checkpoint_file(filename: str,
                         map_location=None,
                         mmap: bool = False) -> dict:
    """Loads a local checkpoint with ``weights_only=True`` and the mmengine
    allowlist.

    Args:
        filename (str): Path of the checkpoint.
        map_location (str | torch.device | callable, optional): As in
            :func:`torch.load`. Defaults to None.
        mmap (bool): Map the tensors' storage from the file instead of
            reading it (:func:`torch.load`'s ``mmap``; zip-format files,
            as ``torch.save`` writes): cheap when only a few entries are
            read. Defaults to False.

    Returns:
        dict: The checkpoint.

    Raises:
        CheckpointError: The file is missing, truncated, not a torch
            checkpoint, or references a global outside the allowlist. The
            message names the file.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise CheckpointError(f'Checkpoint {filename} does not exist.')
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(
                filename,
                map_location=map_location,
                weights_only=True,
                mmap=mmap)
    except pickle.UnpicklingError as err:
        if not _is_refused_global(err):
            raise CheckpointError(
                f'Checkpoint {filename} is truncated or is not a torch '
                f'checkpoint: {err}') from err
        raise CheckpointError(
            f'Checkpoint {filename} was refused: it references objects '
            f'outside the allowlist of mvitx.utils.checkpoint.SAFE_GLOBALS '
            f'({err}). Only load checkpoints you trust; convert foreign '
            'ones with tools/convert/.') from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(
            f'Checkpoint {filename} is truncated or is not a torch '
            f'checkpoint: {err}') from err


def check_resumable(filename: str, param_schedulers: bool = True) -> None:
    """Checks that training can go on from ``filename`` where it stopped.

    mmengine resumes from a checkpoint without optimizer or scheduler state
    (``save_best`` writes ``best_*.pth`` with the weights only) without a
    word: the optimizer's moments start from zero and the schedule from its
    first value at the checkpoint's iteration, so a run resumed at
    iteration 1,400 of a cosine schedule trains at the peak learning rate
    again.

    Args:
        filename (str): The checkpoint to resume from.
        param_schedulers (bool): Whether the run has parameter schedulers
            whose state the checkpoint must hold. Defaults to True.

    Raises:
        CheckpointError: The file cannot be loaded (see
            :func:`load_checkpoint_file`) or lacks ``optimizer`` (or
            ``param_schedulers``) state; the message names the file and
            what to resume from instead.
    """
    checkpoint = load_checkpoint_file(filename, map_location='cpu', mmap=True)
    needed = ['optimizer'] + (['param_schedulers'] if param_schedulers else [])
    missing = [key for key in needed if key not in checkpoint]
    if missing:
        raise CheckpointError(
            f'Cannot resume from {filename}: it has no {" or ".join(missing)} '
            'state (best_*.pth checkpoints hold the weights only), so the '
            'learning-rate schedule and the optimizer would start over. '
            'Resume from a full checkpoint (iter_*.pth or epoch_*.pth; '
            '--resume without a path takes the latest), or start a new run '
            f'from its weights with --cfg-options load_from={filename}')


def install_safe_checkpoint_loader() -> None:
    """Makes mmengine load local files (``load_from``, ``--resume``,
    ``init_cfg=dict(type='Pretrained')``) through
    :func:`load_checkpoint_file`."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_checkpoint_file, force=True)
