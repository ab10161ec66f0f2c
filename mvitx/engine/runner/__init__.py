from .cotrain_loop import CoTrainLoop
from .fsdp import build_runner, fsdp_strategy, wrap_modules_by_name

__all__ = [
    'CoTrainLoop', 'build_runner', 'fsdp_strategy', 'wrap_modules_by_name'
]
