"""What ``tools/train.py``, ``tools/test.py``, the demo and the converter run, for tests and
scripts to call: :func:`train` and :func:`test` (:mod:`.runner`), the checks before a run
(:mod:`.checks`), distributed set-up (:mod:`.distributed`) and the errors the tools report in
one line (:mod:`.errors`). Config loading and model building live in :mod:`mmrest.utils`, for
the analysis and deployment tools that need no runner."""
from ..converters import check_model_fits
from ..utils.build import build_model, quiet_logger
from ..utils.cfg_options import check_cfg_options
from ..utils.config_loading import load_config
from ..utils.errors import ConfigError
from .checks import check_amp, check_checkpoints_exist, check_data_roots
from .distributed import close_distributed, setup_distributed
from .errors import USER_ERRORS, exit_on_user_error
from .runner import test, train

__all__ = ['ConfigError', 'USER_ERRORS', 'exit_on_user_error', 'load_config', 'check_cfg_options',
           'check_data_roots', 'check_checkpoints_exist', 'check_amp', 'check_model_fits',
           'setup_distributed', 'close_distributed', 'train', 'test', 'build_model',
           'quiet_logger']
