"""mvitx's registries: children of mmengine's roots.

Each registry lists the exact package that registers into it (``locations``),
so ``Registry.build`` imports it on demand and a config never needs
``custom_imports`` for mvitx's own components. ``tests/test_registry.py``
imports every location.
"""
import difflib

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry as MMEngineRegistry


class Registry(MMEngineRegistry):
    """An mmengine registry whose failed look-ups say where they looked and
    which registered names come closest."""

    def get(self, key: str):
        obj = super().get(key)
        if obj is None:
            raise KeyError(self._unknown_key_message(key))
        return obj

    def _unknown_key_message(self, key: str) -> str:
        names = set(self._module_dict)
        parent = self.parent
        while parent is not None:
            names.update(parent._module_dict)
            parent = parent.parent
        close = difflib.get_close_matches(
            str(key), sorted(names), n=5, cutoff=0.5)
        hint = (f' Did you mean {", ".join(map(repr, close))}?'
                if close else '')
        return (f'{key!r} is not registered in the {self.scope!r} '
                f'{self.name!r} registry or its parents.{hint} Components '
                'from other OpenMMLab packages need _scope_ (e.g. '
                "dict(type='RTMDet', _scope_='mmdet')); your own need "
                "custom_imports=dict(imports=['your.module']).")


#: Backbones, necks, heads, losses, recognizers/detectors, preprocessors.
MODELS = Registry('model', parent=MMENGINE_MODELS, locations=['mvitx.models'])
#: Datasets.
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, locations=['mvitx.datasets'])
#: Data transforms (one implementation for images and videos).
TRANSFORMS = Registry(
    'transform',
    parent=MMENGINE_TRANSFORMS,
    locations=['mvitx.datasets.transforms'])
#: Samplers (co-training).
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=MMENGINE_DATA_SAMPLERS,
    locations=['mvitx.datasets.samplers'])
#: Evaluation metrics.
METRICS = Registry(
    'metric', parent=MMENGINE_METRICS, locations=['mvitx.evaluation'])
#: Training hooks.
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, locations=['mvitx.engine'])
#: Train/val/test loops.
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, locations=['mvitx.engine'])
#: Optimizer wrapper constructors (layer-wise lr decay).
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mvitx.engine'])
#: Optimizer wrappers (bf16 autocast on any device).
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMENGINE_OPTIM_WRAPPERS,
    locations=['mvitx.engine'])
#: Functions named in configs (the FSDP wrap policy).
FUNCTIONS = Registry(
    'function', parent=MMENGINE_FUNCTIONS, locations=['mvitx.engine'])

# Registries mvitx adds nothing to. The Runner looks them up in the default
# scope 'mvitx'; with no 'mvitx' child there, mmengine falls back to its root
# but warns, on every run, that the scope is unknown and "this may cause
# unexpected failure". These children have no components of their own and
# hand every look-up to mmengine's root.
LOG_PROCESSORS = Registry('log_processor', parent=MMENGINE_LOG_PROCESSORS)
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMENGINE_MODEL_WRAPPERS)
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS)
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS)
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS)
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS)
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR)
