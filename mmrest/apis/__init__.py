from .model import build_model, quiet_logger
from .runner import (USER_ERRORS, ConfigError, check_amp, check_checkpoint_fits,
                     check_checkpoints, check_data_roots, load_config, setup_distributed, test,
                     train)

__all__ = ['ConfigError', 'USER_ERRORS', 'load_config', 'check_data_roots',
           'check_checkpoints', 'check_amp', 'check_checkpoint_fits', 'setup_distributed',
           'train', 'test', 'build_model', 'quiet_logger']
