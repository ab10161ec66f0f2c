import importlib

import pytest
import torch.nn as nn
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope

from mvitx.registry import MODELS, Registry
from mvitx.utils.setup_env import REGISTRIES


@pytest.mark.parametrize('registry', REGISTRIES, ids=lambda r: r.name)
def test_every_location_imports_and_registers(registry):
    assert registry.scope == 'mvitx'
    assert registry._locations, f'{registry.name} has no locations'
    for location in registry._locations:
        importlib.import_module(location)
    # A location that imports but is not where the components register
    # leaves the registry empty.
    assert registry.module_dict, f'nothing registers in {registry.name}'


def test_registries_cover_every_child_of_mvitx_scope():
    # A registry declared in mvitx/registry.py with locations but missing
    # from register_all_modules would never get them imported by it.
    import mvitx.registry as module
    declared = {
        value
        for value in vars(module).values()
        if isinstance(value, Registry) and value._locations
    }
    assert declared == set(REGISTRIES)


def test_unknown_name_names_registry_and_closest_matches():
    registry = Registry('widget', parent=ROOT_MODELS, scope='mvitx_test')

    @registry.register_module()
    class SpatialPooler(nn.Module):
        pass

    with DefaultScope.overwrite_default_scope('mvitx_test'), \
            pytest.raises(KeyError) as err:
        registry.build(dict(type='SpatialPool'))
    message = str(err.value)
    assert "'widget' registry" in message
    assert "'mvitx_test'" in message
    assert "'SpatialPooler'" in message


def test_unknown_name_through_mmengine_root_with_default_scope():
    # This is the path Runner.build_model takes.
    with DefaultScope.overwrite_default_scope('mvitx'):
        with pytest.raises(KeyError, match="'model' registry"):
            ROOT_MODELS.build(dict(type='NoSuchModelAnywhere'))


def test_known_name_builds_through_parent():
    model = MODELS.build(dict(type='BaseDataPreprocessor'))
    assert type(model).__name__ == 'BaseDataPreprocessor'
