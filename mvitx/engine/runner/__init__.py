from .compile_runner import BackboneCompileRunner, compile_kwargs
from .cotrain_loop import CoTrainLoop
from .fsdp import build_runner, fsdp_strategy, wrap_modules_by_name

__all__ = [
    'BackboneCompileRunner', 'CoTrainLoop', 'build_runner', 'compile_kwargs',
    'fsdp_strategy', 'wrap_modules_by_name'
]
