import pytest
import torch.nn as nn

from mvitx.engine.optimizers import LayerDecayOptimWrapperConstructor
from mvitx.models.backbones.mvit import MViT


class _Classifier(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = MViT(arch='xs')
        self.head = nn.Linear(64, 5)


def _group_of(optimizer, param):
    groups = [
        g for g in optimizer.param_groups
        if any(p is param for p in g['params'])
    ]
    assert len(groups) == 1
    return groups[0]


def test_lr_decays_by_depth_and_no_decay_params_are_excluded():
    model = _Classifier()
    constructor = LayerDecayOptimWrapperConstructor(
        optim_wrapper_cfg=dict(
            optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05)),
        paramwise_cfg=dict(layer_decay_rate=0.5))
    optimizer = constructor(model).optimizer
    top = model.backbone.num_layers + 1

    patch = _group_of(optimizer, model.backbone.patch_embed.proj.weight)
    assert patch['lr'] == pytest.approx(0.5**top)
    assert patch['weight_decay'] == 0.05
    block1 = _group_of(optimizer, model.backbone.blocks[1].mlp.fc1.weight)
    assert block1['lr'] == pytest.approx(0.5**(top - 2))
    head = _group_of(optimizer, model.head.weight)
    assert head['lr'] == pytest.approx(1.0)
    # 1-D parameters and the backbone's no_weight_decay() names.
    assert _group_of(optimizer, model.head.bias)['weight_decay'] == 0
    assert _group_of(optimizer, model.backbone.cls_token)['weight_decay'] == 0
    rel_pos = _group_of(optimizer, model.backbone.blocks[0].attn.rel_pos_h)
    assert rel_pos['lr'] == pytest.approx(0.5**(top - 1))
    assert rel_pos['weight_decay'] == 0
    # Every trainable parameter is in exactly one group.
    count = sum(len(g['params']) for g in optimizer.param_groups)
    assert count == len(list(model.parameters()))
