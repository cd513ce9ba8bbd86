"""Local paths against URIs, and what to say of a checkpoint file that is not there: one
wording for every layer (config loading below :mod:`mmrest.checkpoint` included)."""
from typing import Any, Optional


def is_local_path(path: Any) -> bool:
    """A file path, not a URI for mmengine's backends (http://, s3://, open-mmlab://, ...)."""
    return isinstance(path, str) and bool(path) and '://' not in path


def missing_checkpoint(path: str, subject: str = 'checkpoint', option: Optional[str] = None,
                       fresh: Optional[str] = None) -> str:
    """What to say of a local checkpoint file that is not there: where it was expected (the
    config ``option``), how to point at it, and how to do without (``fresh``: the option that
    set to None trains from scratch)."""
    message = f'{subject} not found: {path!r}'
    if option:
        message += (f' ({option}). Download it (docs/authors_checkpoints.md) and point '
                    f'at it with --cfg-options {option}=/path/to/file.pth')
    if fresh:
        message += f', or train from scratch with --cfg-options {fresh}=None'
    return message
