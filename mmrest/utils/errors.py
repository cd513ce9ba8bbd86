"""Errors a user can fix, and how the command-line tools report them: one line, no traceback,
exit code 2."""
import functools
import sys
from typing import Callable, Tuple, Type

Main = Callable[..., int]


class ConfigError(ValueError):
    """A config, option or path that cannot work, explained."""


def exit_on_errors(errors: Tuple[Type[BaseException], ...]) -> Callable[[Main], Main]:
    """Decorates a tool's ``main``: any of ``errors`` (what the user can fix) is printed as
    ``error: ...`` without a traceback, and ``main`` returns 2 (the tool's exit code)."""

    def decorate(main: Main) -> Main:

        @functools.wraps(main)
        def wrapper(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except errors as error:
                print(f'error: {error}', file=sys.stderr)
                return 2
        return wrapper
    return decorate
