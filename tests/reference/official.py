"""The authors' ResT and ResTv2 ImageNet models, transcribed for tests only.

Kept as close to the published code as possible (module names, forward order, the reshapes
that need H and W to be multiples of 32), so that tests can check that mmrest loads the
authors' checkpoints as they are and reproduces their features and logits.
"""
import torch
import torch.nn as nn


class Mlp(nn.Module):

    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class PA(nn.Module):

    def __init__(self, dim):
        super().__init__()
        self.pa_conv = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        return x * self.sigmoid(self.pa_conv(x))


# ------------------------------------------------------------------------------- ResT (v1)
class AttentionV1(nn.Module):

    def __init__(self, dim, num_heads, sr_ratio, apply_transform=True):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.q = nn.Linear(dim, dim, bias=True)
        self.kv = nn.Linear(dim, dim * 2, bias=True)
        self.proj = nn.Linear(dim, dim)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr_ratio + 1, stride=sr_ratio,
                                padding=sr_ratio // 2, groups=dim)
            self.sr_norm = nn.LayerNorm(dim)
        self.apply_transform = apply_transform and num_heads > 1
        if self.apply_transform:
            self.transform_conv = nn.Conv2d(self.num_heads, self.num_heads, kernel_size=1)
            self.transform_norm = nn.InstanceNorm2d(self.num_heads)

    def forward(self, x, H, W):
        B, N, C = x.shape
        q = self.q(x).reshape(B, N, self.num_heads, C // self.num_heads).permute(0, 2, 1, 3)
        if self.sr_ratio > 1:
            x_ = x.permute(0, 2, 1).reshape(B, C, H, W)
            x_ = self.sr(x_).reshape(B, C, -1).permute(0, 2, 1)
            x_ = self.sr_norm(x_)
            kv = self.kv(x_).reshape(B, -1, 2, self.num_heads,
                                     C // self.num_heads).permute(2, 0, 3, 1, 4)
        else:
            kv = self.kv(x).reshape(B, -1, 2, self.num_heads,
                                    C // self.num_heads).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        if self.apply_transform:
            attn = self.transform_conv(attn)
            attn = attn.softmax(dim=-1)
            attn = self.transform_norm(attn)
        else:
            attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class BlockV1(nn.Module):

    def __init__(self, dim, num_heads, sr_ratio, eps=1e-5, attn_cls=AttentionV1):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = attn_cls(dim, num_heads, sr_ratio)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, dim * 4)

    def forward(self, x, H, W):
        x = x + self.attn(self.norm1(x), H, W)
        return x + self.mlp(self.norm2(x))


class StemV1(nn.Module):

    def __init__(self, in_ch=3, out_ch=64):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch // 2, 3, 2, 1, bias=False)
        self.norm1 = nn.BatchNorm2d(out_ch // 2)
        self.conv2 = nn.Conv2d(out_ch // 2, out_ch // 2, 3, 1, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(out_ch // 2)
        self.conv3 = nn.Conv2d(out_ch // 2, out_ch, 3, 2, 1, bias=False)
        self.act = nn.ReLU(inplace=True)
        self.pos = PA(out_ch)

    def forward(self, x):
        x = self.act(self.norm1(self.conv1(x)))
        x = self.act(self.norm2(self.conv2(x)))
        x = self.pos(self.conv3(x))
        B, C, H, W = x.shape
        return x.flatten(2).transpose(1, 2), (H, W)


class PatchEmbedV1(nn.Module):

    def __init__(self, patch_size, in_ch, out_ch):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, patch_size + 1, patch_size, patch_size // 2)
        self.norm = nn.BatchNorm2d(out_ch)
        self.pos = PA(out_ch)

    def forward(self, x):
        x = self.pos(self.norm(self.conv(x)))
        B, C, H, W = x.shape
        return x.flatten(2).transpose(1, 2), (H, W)


class OfficialResT(nn.Module):

    def __init__(self, embed_dims, depths, num_heads, sr_ratios=(8, 4, 2, 1), num_classes=1000):
        super().__init__()
        self.stem = StemV1(3, embed_dims[0])
        for i in range(1, 4):
            setattr(self, f'patch_embed_{i + 1}', PatchEmbedV1(2, embed_dims[i - 1],
                                                               embed_dims[i]))
        for i in range(4):
            setattr(self, f'stage{i + 1}', nn.ModuleList(
                [BlockV1(embed_dims[i], num_heads[i], sr_ratios[i]) for _ in range(depths[i])]))
        self.norm = nn.LayerNorm(embed_dims[3])
        self.head = nn.Linear(embed_dims[3], num_classes)

    def forward_stages(self, x):
        """Per-stage token maps (before any norm), as NCHW."""
        B = x.shape[0]
        outs = []
        x, (H, W) = self.stem(x)
        for i in range(4):
            if i > 0:
                x = x.permute(0, 2, 1).reshape(B, -1, H, W)
                x, (H, W) = getattr(self, f'patch_embed_{i + 1}')(x)
            for blk in getattr(self, f'stage{i + 1}'):
                x = blk(x, H, W)
            outs.append((x, H, W))
        return outs

    def forward(self, x):
        x, _, _ = self.forward_stages(x)[-1]
        x = self.norm(x).mean(dim=1)
        return self.head(x)


# ------------------------------------------------------------------------------- ResTv2
class AttentionV2(nn.Module):

    def __init__(self, dim, num_heads, sr_ratio):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.q = nn.Linear(dim, dim, bias=True)
        self.kv = nn.Linear(dim, dim * 2, bias=True)
        self.proj = nn.Linear(dim, dim)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr_ratio + 1, stride=sr_ratio,
                                padding=sr_ratio // 2, groups=dim)
            self.sr_norm = nn.LayerNorm(dim, eps=1e-6)
        self.up = nn.Sequential(
            nn.Conv2d(dim, sr_ratio * sr_ratio * dim, kernel_size=3, stride=1, padding=1,
                      groups=dim),
            nn.PixelShuffle(upscale_factor=sr_ratio))
        self.up_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x, H, W):
        B, N, C = x.shape
        q = self.q(x).reshape(B, N, self.num_heads, C // self.num_heads).permute(0, 2, 1, 3)
        if self.sr_ratio > 1:
            x = x.permute(0, 2, 1).reshape(B, C, H, W)
            x = self.sr(x).reshape(B, C, -1).permute(0, 2, 1)
            x = self.sr_norm(x)
        kv = self.kv(x).reshape(B, -1, 2, self.num_heads,
                                C // self.num_heads).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        identity = v.transpose(-1, -2).reshape(B, C, H // self.sr_ratio, W // self.sr_ratio)
        identity = self.up(identity).flatten(2).transpose(1, 2)
        return self.proj(x + self.up_norm(identity))


class ConvStemV2(nn.Module):

    def __init__(self, in_ch=3, out_ch=96):
        super().__init__()
        stem = []
        in_dim, out_dim = in_ch, out_ch // 2
        for _ in range(2):
            stem.append(nn.Conv2d(in_dim, out_dim, 3, 2, 1, bias=False))
            stem.append(nn.BatchNorm2d(out_dim))
            stem.append(nn.ReLU(inplace=True))
            in_dim, out_dim = out_dim, out_dim * 2
        stem.append(nn.Conv2d(in_dim, out_ch, kernel_size=1, stride=1))
        self.proj = nn.Sequential(*stem)
        self.pos = PA(out_ch)
        self.norm = nn.LayerNorm(out_ch, eps=1e-6)

    def forward(self, x):
        B, C, H, W = x.shape
        x = self.pos(self.proj(x))
        x = self.norm(x.flatten(2).transpose(1, 2))
        return x, (H // 4, W // 4)


class PatchEmbedV2(nn.Module):

    def __init__(self, patch_size, in_ch, out_ch):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_ch, out_ch, patch_size + 1, patch_size, patch_size // 2)
        self.pos = PA(out_ch)
        self.norm = nn.LayerNorm(out_ch, eps=1e-6)

    def forward(self, x):
        B, C, H, W = x.shape
        x = self.pos(self.proj(x))
        x = self.norm(x.flatten(2).transpose(1, 2))
        return x, (H // self.patch_size, W // self.patch_size)


class OfficialResTV2(OfficialResT):

    def __init__(self, embed_dims, depths, num_heads, sr_ratios=(8, 4, 2, 1), num_classes=1000):
        nn.Module.__init__(self)
        self.stem = ConvStemV2(3, embed_dims[0])
        for i in range(1, 4):
            setattr(self, f'patch_{i + 1}', PatchEmbedV2(2, embed_dims[i - 1], embed_dims[i]))
        for i in range(4):
            setattr(self, f'stage{i + 1}', nn.ModuleList([
                BlockV1(embed_dims[i], num_heads[i], sr_ratios[i], eps=1e-6,
                        attn_cls=AttentionV2) for _ in range(depths[i])
            ]))
        self.norm = nn.LayerNorm(embed_dims[3], eps=1e-6)
        self.head = nn.Linear(embed_dims[3], num_classes)

    def forward_stages(self, x):
        B = x.shape[0]
        outs = []
        x, (H, W) = self.stem(x)
        for i in range(4):
            if i > 0:
                x = x.permute(0, 2, 1).reshape(B, -1, H, W)
                x, (H, W) = getattr(self, f'patch_{i + 1}')(x)
            for blk in getattr(self, f'stage{i + 1}'):
                x = blk(x, H, W)
            outs.append((x, H, W))
        return outs


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random values everywhere (BN statistics included), so that a key loaded into the wrong
    place or not at all changes the outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.dtype.is_floating_point:
                values = torch.randn(tensor.shape, generator=gen) * 0.1
                if name.endswith('running_var'):
                    values = values.abs() + 0.5
                elif name.endswith(('norm.weight', 'norm1.weight', 'norm2.weight')):
                    values = values + 1.0
                tensor.copy_(values)
    return model.eval()
