import importlib

from mmengine import DefaultScope

from mvitx.registry import (DATA_SAMPLERS, DATASETS, HOOKS, LOOPS, METRICS,
                            MODELS, OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                            TRANSFORMS)
from .checkpoint import install_safe_checkpoint_loader

REGISTRIES = (MODELS, DATASETS, TRANSFORMS, DATA_SAMPLERS, METRICS, HOOKS,
              LOOPS, OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS)


def register_all_modules(init_default_scope: bool = True) -> None:
    """Imports every mvitx module that registers components and installs the
    safe checkpoint loader.

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
    if init_default_scope and DefaultScope.get_current_instance() is None:
        DefaultScope.get_instance('mvitx', scope_name='mvitx')
