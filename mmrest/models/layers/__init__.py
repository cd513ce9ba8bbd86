"""Building blocks of mmrest's backbones, by concept (as timm's ``layers``):

- :mod:`.helpers`: token <-> map layout, tracing checks;
- :mod:`.pos_embed`: positional encodings (PA, PEG, GL, learned absolute, resizing);
- :mod:`.embed`: stems and patch embeddings;
- :mod:`.attention`: the multi-head attention core, EMSA / EMSAv2, windowing;
- :mod:`.blocks`: stochastic depth, the feed-forwards (MLP, LeFF) and the ResT block.

Module and parameter names follow the authors' ResTv2 code so that their checkpoints load as
they are; ResT v1 checkpoints are renamed on load (see :mod:`mmrest.checkpoint`).
"""
from .attention import (
    INTERACTIONS,
    SR_TYPES,
    UPSAMPLE_TARGETS,
    UPSAMPLES,
    EfficientMultiheadAttention,
    IdentityInitDWConv,
    MultiheadAttention,
    window_attention,
)
from .blocks import FFNS, DropPath, LeFF, Mlp, PreNormBlock, ResTBlock
from .embed import ConvStem, PatchEmbed, PatchifyStem, ResNetStem
from .helpers import Size2d, is_tracing, map_to_tokens, tokens_to_map
from .pos_embed import (
    PA,
    PEG,
    POS_EMBEDS,
    AbsolutePE,
    GroupLinearPE,
    build_pos_embed,
    resize_pos_embed,
)

__all__ = [
    'AbsolutePE', 'ConvStem', 'DropPath', 'EfficientMultiheadAttention', 'FFNS',
    'GroupLinearPE', 'INTERACTIONS', 'IdentityInitDWConv', 'LeFF', 'Mlp', 'MultiheadAttention',
    'PA', 'PEG', 'POS_EMBEDS', 'PatchEmbed', 'PatchifyStem', 'PreNormBlock', 'ResNetStem',
    'ResTBlock',
    'SR_TYPES', 'Size2d', 'UPSAMPLES', 'UPSAMPLE_TARGETS', 'build_pos_embed',
    'is_tracing', 'map_to_tokens', 'resize_pos_embed', 'tokens_to_map', 'window_attention'
]
