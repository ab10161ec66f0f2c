from typing import List

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor

from mvitx.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Layer-wise learning-rate decay for fine-tuning transformers.

    Parameter ``p`` of layer ``l`` (``model.backbone.get_layer_id``: 0 for
    the embeddings, ``i + 1`` for block ``i``, ``num_layers + 1`` for the
    final norm; every parameter outside the backbone counts as
    ``num_layers + 1``) gets ``lr * layer_decay_rate ** (num_layers + 1 -
    l)``. Biases, norm weights (every 1-D parameter) and the names in
    ``model.backbone.no_weight_decay()`` get no weight decay.

    ``paramwise_cfg`` keys:

    - ``layer_decay_rate`` (float): decay per layer, e.g. 0.75.

    Examples:
        >>> optim_wrapper = dict(
        ...     optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        ...     constructor='LayerDecayOptimWrapperConstructor',
        ...     paramwise_cfg=dict(layer_decay_rate=0.75))
    """

    def add_params(self, params: List[dict], module: nn.Module, **kwargs):
        rate = self.paramwise_cfg['layer_decay_rate']
        backbone = module.backbone
        num_layers = backbone.num_layers
        no_decay_names = {f'backbone.{n}' for n in backbone.no_weight_decay()}
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            if name.startswith('backbone.'):
                layer_id = backbone.get_layer_id(name[len('backbone.'):])
            else:
                layer_id = num_layers + 1
            no_decay = param.ndim == 1 or name in no_decay_names
            key = (layer_id, no_decay)
            if key not in groups:
                groups[key] = dict(
                    params=[],
                    lr=self.base_lr * rate**(num_layers + 1 - layer_id),
                    weight_decay=0. if no_decay else self.base_wd)
            groups[key]['params'].append(param)
        params.extend(groups[key] for key in sorted(groups))
