"""CeiT backbone for OpenMMLab: the OpenMMLab face (:class:`~.base.MMRestBackbone`) of the
network of :mod:`mmrest.models.networks.ceit` ("Incorporating Convolution Designs into Visual
Transformers", Yuan et al., ICCV 2021), which holds the construction and the forward."""
from typing import List

import torch.nn as nn

from ...registry import register_model
from ..networks.ceit import CeiTBlock, CeiTNet, LCABlock
from .base import BaseModule, MMRestBackbone

__all__ = ['CeiT', 'CeiTBlock', 'LCABlock']


@register_model
class CeiT(MMRestBackbone, CeiTNet, BaseModule):
    """CeiT backbone ("Incorporating Convolution Designs into Visual Transformers").

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'`` (paper Table 1) or a dict with
            ``embed_dims``, ``num_layers``, ``num_heads`` and optionally
            ``feedforward_channels`` (LeFF width; default 4 x embed_dims).
        img_size: training image size; sets the size of the learned positional embedding.
            Other sizes work: the embedding is interpolated bicubically (also when loading a
            checkpoint trained at another size). Sides that are multiples of 16 map exactly
            onto the token grid (side / 16 tokens).
        in_channels: image channels.
        stem_channels: channels of the I2T feature map (paper: 32).
        patch_size: patch side on the stride-4 I2T map (paper: 4, i.e. 16 image pixels).
        leff_kernel_size: depth-wise conv kernel of LeFF (paper: 3).
        out_type: ``'cls_token'`` (default): the LCA output after the final LayerNorm, (B, C),
            for the classifier. Dense outputs, taken from the layers in ``out_indices`` (LCA
            is then not built): ``'featmap'`` (B, C, H, W) patch tokens, ``'avg_featmap'``
            their mean followed by a LayerNorm, ``'raw'`` (B, 1 + H*W, C) all tokens. As in
            mmpretrain's VisionTransformer, ``final_norm`` normalises the last layer's tokens.
        out_indices: layers (0-based, negative from the end) whose outputs are returned; with
            ``out_type='cls_token'`` only the last layer (the LCA sees every layer anyway).
        final_norm: LayerNorm before the output (the classifier's input norm).
        drop_rate: dropout after the positional embedding and the projections.
        attn_drop_rate: dropout on the attention weights.
        drop_path_rate: stochastic depth, rising linearly to this value over the encoder
            blocks. The LCA block has none: it is the only path to the head (as CaiT's
            class-attention blocks).
        qkv_bias: bias of the query/key/value projections.
        norm_eps: LayerNorm epsilon.
        interpolate_mode: interpolation of the positional embedding.
        frozen_stages: -1 freezes nothing; 0 the I2T stem, patch embedding, class token and
            positional embedding; k >= 1 also layers 1..k; ``num_layers`` everything,
            including LCA and the final norms. Frozen parts have no gradient and stay in
            eval mode.
        norm_eval: keep all BatchNorms (I2T and LeFF) in eval mode while training, e.g. for
            small-batch detection fine-tuning.
        with_cp: activation checkpointing of each encoder block (less memory, same results
            and the same BatchNorm running statistics).
        init_cfg: e.g. ``dict(type='Pretrained', checkpoint=PATH)`` (a CeiT or a whole
            classifier's checkpoint; its ``backbone.`` tensors are taken and the positional
            embedding is resized to ``img_size``), possibly in a list with mmengine
            initialisers. Always first: DeiT's initialisation (truncated normal 0.02 for
            linear layers, class token and positional embedding) and He initialisation for
            the conv layers.
    """

    @property
    def num_stages(self) -> int:
        return self.num_layers

    # -- training-mode contract ---------------------------------------------------------------
    def frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        modules: List[nn.Module] = [self.i2t, self.patch_embed, self.drop_after_pos]
        modules += list(self.layers[:self.frozen_stages])
        if self.frozen_stages == self.num_layers:
            modules += [m for m in (self.lca, self.ln1, self.ln2) if m is not None]
        return modules

    def frozen_parameters(self) -> List[nn.Parameter]:
        return [self.cls_token, self.pos_embed] if self.frozen_stages >= 0 else []

    def layer_id(self, name: str, decay_type: str) -> int:
        """Layer-wise ids (CeiT has no stages): the stem (I2T, patch embedding, class token,
        positional embedding) 0, encoder layer i (0-based) i + 1, LCA and the final norms
        ``num_layers + 1``."""
        if decay_type != 'layer_wise':
            raise ValueError(f"CeiT has no stages: use decay_type='layer_wise', not "
                             f'{decay_type!r}')
        if name in ('cls_token', 'pos_embed') or name.startswith(('i2t.', 'patch_embed.')):
            return 0
        if name.startswith('layers.'):
            return int(name.split('.')[1]) + 1
        if name.startswith(('lca.', 'ln1.', 'ln2.')):
            return self.num_layers + 1
        raise ValueError(f'CeiT has no decay id for {name!r}')
