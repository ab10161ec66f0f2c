from .checkpoint import (CheckpointError, install_safe_checkpoint_loader,
                         load_checkpoint_file)
from .dist import setup_distributed, teardown_distributed
from .setup_env import register_all_modules

__all__ = [
    'CheckpointError', 'install_safe_checkpoint_loader',
    'load_checkpoint_file', 'register_all_modules', 'setup_distributed',
    'teardown_distributed'
]
