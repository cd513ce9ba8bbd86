"""The ``frozen_stages`` / ``norm_eval`` half of the OpenMMLab backbone contract, shared by
the backbones: each names what a setting freezes, this applies it after every ``train()``."""
from typing import List

import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


class FreezableBackbone:
    """Mixin for ``nn.Module`` backbones with ``frozen_stages`` and ``norm_eval``."""
    norm_eval: bool

    def frozen_modules(self) -> List[nn.Module]:
        """Modules that ``frozen_stages`` keeps in eval mode without gradients."""
        raise NotImplementedError

    def frozen_parameters(self) -> List[nn.Parameter]:
        """Parameters outside those modules that freeze too (class tokens, ...)."""
        return []

    def _freeze_stages(self) -> None:
        for module in self.frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False
        for param in self.frozen_parameters():
            param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
