from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from mvitx.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """Runs the forward pass under bfloat16 autocast, on GPU or CPU.

    bfloat16 has float32's exponent range, so unlike float16 it needs no loss
    scaling; this is what ``tools/train.py --amp`` selects. mmengine's
    ``AmpOptimWrapper`` remains the choice for float16 on GPUs without
    bfloat16 support.

    Args:
        **kwargs: Passed to :class:`mmengine.optim.OptimWrapper`
            (``optimizer``, ``clip_grad``, ``accumulative_counts``).
    """

    @contextmanager
    def optim_context(self, model: nn.Module):
        device_type = next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(
                device_type=device_type, dtype=torch.bfloat16):
            yield
