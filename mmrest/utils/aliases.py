"""The type aliases mmrest's modules share, defined once."""
import os
from typing import Callable, Tuple, Union

Size2d = Tuple[int, int]  # (H, W)
PathLike = Union[str, 'os.PathLike[str]']
Say = Callable[[str], None]  # where progress lines go (print, a logger, a list's append)
