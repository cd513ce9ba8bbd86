"""What needs the backbones' presets, above :mod:`mmrest.checkpoint` (files, key names, state
dicts) and the backbones:

- :mod:`.official`: which of the authors' published files a checkpoint is, and its conversion
  to the layout of its mmrest config (``tools/convert_official.py``);
- :mod:`.model_fit`: whether a checkpoint fits a whole model, before it is loaded.
"""
from .model_fit import check_model_fits
from .official import Conversion, OfficialFile, convert_official, recognise_official

__all__ = ['check_model_fits', 'Conversion', 'OfficialFile', 'convert_official',
           'recognise_official']
