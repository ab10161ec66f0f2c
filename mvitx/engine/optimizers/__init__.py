from .bf16_optim_wrapper import BF16OptimWrapper
from .layer_decay_optim_wrapper_constructor import \
    LayerDecayOptimWrapperConstructor

__all__ = ['BF16OptimWrapper', 'LayerDecayOptimWrapperConstructor']
