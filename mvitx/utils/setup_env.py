import importlib
import logging
import re
import warnings

from mmengine import DefaultScope

from mvitx.registry import (DATA_SAMPLERS, DATASETS, FUNCTIONS, HOOKS, LOOPS,
                            METRICS, MODELS, OPTIM_WRAPPER_CONSTRUCTORS,
                            OPTIM_WRAPPERS, TRANSFORMS)
from .checkpoint import install_safe_checkpoint_loader

REGISTRIES = (MODELS, DATASETS, TRANSFORMS, DATA_SAMPLERS, METRICS, HOOKS,
              LOOPS, OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, FUNCTIONS)

#: mmengine log lines about mmengine itself that no mvitx code or config
#: can avoid: its `CheckpointHook.before_train` (and `LoggerHook` with an
#: `out_dir`) builds a `FileClient`, and with it a `HardDiskBackend`,
#: whatever the config says, only for backward compatibility (mmengine
#: 0.10).
LIBRARY_LOG_NOISE = re.compile(
    r'"FileClient" will be deprecated in future\.|'
    r'"HardDiskBackend" is the alias of "LocalBackend" and the former will '
    r'be deprecated in future\.')


class LibraryNoiseFilter(logging.Filter):
    """Drops the records of :data:`LIBRARY_LOG_NOISE` (mmengine's own
    deprecations, which tell a user of mvitx nothing they can act on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not LIBRARY_LOG_NOISE.match(record.getMessage())


def quiet_library_logs(logger: logging.Logger) -> None:
    """Keeps mmengine's deprecations of itself (:data:`LIBRARY_LOG_NOISE`)
    out of ``logger`` (a Runner's ``MMLogger``, which exists only once the
    Runner is built), once."""
    if not any(isinstance(f, LibraryNoiseFilter) for f in logger.filters):
        logger.addFilter(LibraryNoiseFilter())


def filter_library_warnings() -> None:
    """Silences Python warnings of libraries that are notices, not
    problems, and that mvitx cannot change."""
    # mmengine's Runner sets MKL_NUM_THREADS (and OMP_NUM_THREADS, which
    # torch.distributed.run sets first) to 1 in every process of a
    # distributed run when unset, which is the intended default, and warns
    # that it did.
    warnings.filterwarnings(
        'ignore',
        message=r'Setting (OMP|MKL)_NUM_THREADS environment variable for each '
        r'process to be 1 in default',
        category=UserWarning,
        module=r'mmengine\.utils\.dl_utils\.setup_env')


def register_all_modules(init_default_scope: bool = True) -> None:
    """Imports every mvitx module that registers components, installs the
    safe checkpoint loader and filters library notices
    (:func:`filter_library_warnings`).

    Configs do not need this (the registries import their ``locations``
    lazily); notebooks, tests and tools call it once.

    Args:
        init_default_scope (bool): Whether to make ``'mvitx'`` the current
            default scope, as ``default_scope = 'mvitx'`` does in a config.
            Defaults to True.
    """
    for registry in REGISTRIES:
        for location in registry._locations:
            importlib.import_module(location)
    install_safe_checkpoint_loader()
    filter_library_warnings()
    if init_default_scope and DefaultScope.get_current_instance() is None:
        DefaultScope.get_instance('mvitx', scope_name='mvitx')
