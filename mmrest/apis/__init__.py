from ..converters import check_model_fits
from .model import build_model, quiet_logger
from .runner import (
    USER_ERRORS,
    ConfigError,
    check_amp,
    check_checkpoints_exist,
    check_data_roots,
    close_distributed,
    exit_on_user_error,
    load_config,
    setup_distributed,
    test,
    train,
)

__all__ = ['ConfigError', 'USER_ERRORS', 'exit_on_user_error', 'load_config', 'check_data_roots',
           'check_checkpoints_exist', 'check_amp', 'check_model_fits', 'setup_distributed',
           'close_distributed', 'train', 'test', 'build_model', 'quiet_logger']
