from .checkpoint import (CheckpointError, check_resumable,
                         install_safe_checkpoint_loader, load_checkpoint_file)
from .config import find_resume_checkpoint, load_config, merge_cli_options
from .dist import setup_distributed, teardown_distributed
from .safe_pickle import PickleSafetyError, load_pickle
from .setup_env import quiet_library_logs, register_all_modules

__all__ = [
    'CheckpointError', 'check_resumable', 'find_resume_checkpoint',
    'load_config', 'merge_cli_options', 'install_safe_checkpoint_loader',
    'load_checkpoint_file', 'load_pickle', 'PickleSafetyError',
    'quiet_library_logs', 'register_all_modules', 'setup_distributed',
    'teardown_distributed'
]
