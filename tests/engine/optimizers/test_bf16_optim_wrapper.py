import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper

from mvitx.utils import register_all_modules


def test_forward_runs_in_bf16_and_steps_in_fp32():
    register_all_modules()
    model = nn.Sequential(nn.Linear(8, 4))
    wrapper = build_optim_wrapper(
        model,
        dict(type='BF16OptimWrapper', optimizer=dict(type='SGD', lr=0.1)))
    before = model[0].weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(torch.randn(2, 8))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).mean())
    assert model[0].weight.dtype == torch.float32
    assert not torch.equal(model[0].weight, before)
    with torch.no_grad():
        assert model(torch.randn(2, 8)).dtype == torch.float32
