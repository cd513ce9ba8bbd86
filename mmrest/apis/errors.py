"""The errors a user of mmrest's tools can fix, which the tools print in one line (exit code 2)."""
from ..checkpoint import CheckpointFileError, CheckpointMismatchError
from ..utils.errors import ConfigError, Main, exit_on_errors
from ..utils.packages import MissingPackageError

# What a user can fix (config, paths, checkpoint files): the tools print it and exit with 2.
USER_ERRORS = (ConfigError, CheckpointMismatchError, CheckpointFileError, MissingPackageError)


def exit_on_user_error(main: Main) -> Main:
    """For a tool's ``main``: an error the user can fix (:data:`USER_ERRORS`) is printed as
    ``error: ...`` without a traceback, and the tool exits with 2."""
    return exit_on_errors(USER_ERRORS)(main)
