"""Multiscale Vision Transformers (MViTv1 / MViTv2) for images and videos.

One module runs images ``(N, C, H, W)`` (one temporal token) and videos
``(N, C, T, H, W)`` of any size through the same weights: absolute position
embeddings and decomposed relative-position tables are interpolated to the
input's token grid at run time. The file reads top to bottom: the arch table,
the blocks, the model. Weight conversion from torchvision, timm, PySlowFast
and mmaction2 lives in :mod:`mvitx.models.backbones.mvit_convert`.
"""
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmengine.logging import MMLogger
from mmengine.model import BaseModule

from mvitx.registry import MODELS
from ..necks.base_neck import ModulationOutput
from .mvit_convert import (convert_state_dict, inflate_image_to_video,
                           load_pretrained)

Size3d = Tuple[int, int, int]

_VIDEO = dict(
    patch_kernel=(3, 7, 7),
    patch_stride=(2, 4, 4),
    patch_padding=(1, 3, 3),
    pool_kernel=(3, 3, 3),
    kv_stride=(1, 8, 8),
    input_size=(16, 224, 224),
    dim_mul_in_att=True,
    pool_q_every_block=True,
    rel_pos='spatiotemporal',
    abs_pos=None,
    cls_token=True,
    residual_pool=True,
    residual_with_cls=False,
)
_IMAGE = dict(
    _VIDEO,
    patch_kernel=(1, 7, 7),
    patch_stride=(1, 4, 4),
    patch_padding=(0, 3, 3),
    pool_kernel=(1, 3, 3),
    kv_stride=(1, 4, 4),
    input_size=(1, 224, 224),
    rel_pos='spatial',
    cls_token=False,
    residual_with_cls=True,
)

#: Architectures, with the settings of the published video (PySlowFast,
#: torchvision, mmaction2) and image (official image code, timm) models:
#:
#: - ``embed_dims``/``num_heads``: of the first stage; both double at every
#:   stage, whose first block pools the query with stride (1, 2, 2) (see
#:   :class:`MViT`'s ``stage_q_strides``).
#: - ``depths``: blocks per stage.
#: - ``patch_kernel``/``patch_stride``/``patch_padding``: the patch conv.
#: - ``pool_kernel``: q/k/v pooling kernel; ``kv_stride``: the first block's
#:   k/v stride, divided by every query stride after (adaptive kv stride).
#: - ``input_size``: default ``(T, H, W)`` the position tables are sized for.
#: - ``dim_mul_in_att``: channels grow in the attention of the pooling block
#:   (MViTv2) or in the MLP of the block before (MViTv1, MViTv2-L image).
#: - ``pool_q_every_block``: pool the query (stride 1) in every block
#:   (MViTv2) or only where it is strided (MViTv1).
#: - ``rel_pos``: ``'spatiotemporal'``, ``'spatial'`` or None.
#: - ``abs_pos``: None, ``'joint'`` or ``'separable'`` (MViTv1).
#: - ``cls_token``; ``residual_pool`` (MViTv2); ``residual_with_cls``: the
#:   pooled-query residual includes the class token.
ARCH_SETTINGS: Dict[str, dict] = {
    'xs':
    dict(_VIDEO, embed_dims=32, num_heads=1, depths=(2, 2)),
    'tiny':
    dict(_VIDEO, embed_dims=96, num_heads=1, depths=(1, 2, 5, 2)),
    'small':
    dict(_VIDEO, embed_dims=96, num_heads=1, depths=(1, 2, 11, 2)),
    'base':
    dict(_VIDEO, embed_dims=96, num_heads=1, depths=(2, 3, 16, 3)),
    'large':
    dict(_VIDEO, embed_dims=144, num_heads=2, depths=(2, 6, 36, 4)),
    'image-tiny':
    dict(_IMAGE, embed_dims=96, num_heads=1, depths=(1, 2, 5, 2)),
    'image-small':
    dict(_IMAGE, embed_dims=96, num_heads=1, depths=(1, 2, 11, 2)),
    'image-base':
    dict(_IMAGE, embed_dims=96, num_heads=1, depths=(2, 3, 16, 3)),
    'image-large':
    dict(
        _IMAGE,
        embed_dims=144,
        num_heads=2,
        depths=(2, 6, 36, 4),
        dim_mul_in_att=False),
    'v1-b':
    dict(
        _VIDEO,
        embed_dims=96,
        num_heads=1,
        depths=(1, 2, 11, 2),
        dim_mul_in_att=False,
        pool_q_every_block=False,
        rel_pos=None,
        abs_pos='separable',
        residual_pool=False),
}
ARCH_KEYS = frozenset(ARCH_SETTINGS['small'])


def _rel_pos_table(table: torch.Tensor, q_size: int,
                   k_size: int) -> torch.Tensor:
    """Relative-position embeddings of every (query, key) position pair.

    The table is linearly interpolated to ``2 * max(q_size, k_size) - 1``
    entries when it was learnt for another size, and the coordinates of the
    shorter axis are scaled up, as in MViTv2.

    Args:
        table (Tensor): ``(L, C)`` learnt embeddings.
        q_size (int): Query positions along the axis.
        k_size (int): Key positions along the axis.

    Returns:
        Tensor: ``(q_size, k_size, C)``.
    """
    length = 2 * max(q_size, k_size) - 1
    if table.shape[0] != length:
        table = F.interpolate(
            table.t()[None], size=length, mode='linear')[0].t()
    q_ratio = max(k_size / q_size, 1.0)
    k_ratio = max(q_size / k_size, 1.0)
    dist = (
        torch.arange(q_size, device=table.device)[:, None] * q_ratio -
        (torch.arange(k_size, device=table.device)[None, :] +
         (1.0 - k_size)) * k_ratio)
    return table[dist.long()]


def _pool_tokens(
        x: torch.Tensor,
        pool: nn.Module,
        thw: Size3d,
        with_cls_token: bool,
        norm: Optional[nn.Module] = None) -> Tuple[torch.Tensor, Size3d]:
    """Pools the ``(T, H, W)`` grid of tokens; the class token passes.

    Args:
        x (Tensor): ``(N, heads, L, C)`` tokens, ``L = [1 +] T * H * W``.
        pool (nn.Module): A 3D pooling (or depthwise conv) layer.
        thw (tuple[int, int, int]): The grid of ``x``.
        with_cls_token (bool): Whether ``x[:, :, 0]`` is a class token.
        norm (nn.Module, optional): Applied after pooling, class token
            included.

    Returns:
        tuple: ``(N, heads, L', C)`` pooled tokens and their grid.
    """
    n, heads, _, c = x.shape
    if with_cls_token:
        cls_token, x = x[:, :, :1], x[:, :, 1:]
    x = x.transpose(2, 3).reshape(n * heads, c, *thw)
    x = pool(x)
    out_thw = tuple(x.shape[2:])
    x = x.reshape(n, heads, c, -1).transpose(2, 3)
    if with_cls_token:
        x = torch.cat((cls_token, x), dim=2)
    if norm is not None:
        x = norm(x)
    return x, out_thw


class DropPath(nn.Module):
    """Stochastic depth: drops the residual branch of whole samples.

    Args:
        drop_prob (float): Probability of dropping a sample's branch.
    """

    def __init__(self, drop_prob: float):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scales kept samples by ``1 / (1 - drop_prob)`` in training."""
        if not self.training or self.drop_prob == 0:
            return x
        keep = 1 - self.drop_prob
        mask = x.new_empty((x.shape[0], ) + (1, ) * (x.ndim - 1))
        return x * mask.bernoulli_(keep) / keep


class AvgPool3d(nn.Module):
    """Average pooling over the valid (unpadded) entries of each window.

    Unlike :class:`torch.nn.AvgPool3d` it accepts inputs smaller than the
    kernel (one-frame images, short clips).

    Args:
        kernel_size (tuple[int, int, int]): Window.
        stride (tuple[int, int, int]): Stride.
        padding (tuple[int, int, int]): Zero padding per side.
    """

    def __init__(self, kernel_size: Size3d, stride: Size3d, padding: Size3d):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.pad = tuple(p for p in reversed(padding) for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, T, H, W)`` -> pooled ``(N, C, T', H', W')``."""
        total = F.avg_pool3d(F.pad(x, self.pad), self.kernel_size, self.stride)
        ones = x.new_ones((1, 1) + x.shape[2:])
        count = F.avg_pool3d(
            F.pad(ones, self.pad), self.kernel_size, self.stride)
        return total / count


class Mlp(nn.Module):
    """``fc1 -> GELU -> fc2``.

    Args:
        in_dims (int): Input channels.
        hidden_dims (int): Hidden channels.
        out_dims (int): Output channels.
    """

    def __init__(self, in_dims: int, hidden_dims: int, out_dims: int):
        super().__init__()
        self.fc1 = nn.Linear(in_dims, hidden_dims)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dims, out_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, L, in_dims) -> (N, L, out_dims)``."""
        return self.fc2(self.act(self.fc1(x)))


class MultiScaleAttention(nn.Module):
    """Pooling attention with decomposed relative positions.

    Queries, keys and values are pooled on their ``(T, H, W)`` grid (a
    depthwise conv + LayerNorm per head in ``'conv'`` mode, or max/avg
    pooling); the relative-position terms ``q . R(dt, dh, dw)`` are folded
    into the query-key product (see :meth:`_sdpa`), so the fused kernels of
    :func:`torch.nn.functional.scaled_dot_product_attention` run without an
    attention bias.

    Args:
        in_dims (int): Input channels.
        out_dims (int): Attention (and output) channels.
        num_heads (int): Attention heads.
        kernel_q (tuple[int, int, int]): Query pooling kernel.
        kernel_kv (tuple[int, int, int]): Key/value pooling kernel.
        stride_q (tuple[int, int, int]): Query pooling stride.
        stride_kv (tuple[int, int, int]): Key/value pooling stride.
        pool_mode (str): ``'conv'``, ``'avg'`` or ``'max'``.
        rel_pos_size (tuple[int, int], optional): Lengths of the spatial
            (``rel_pos_h``/``rel_pos_w``) and temporal (``rel_pos_t``, 0 for
            none) tables; None for no relative positions.
        with_cls_token (bool): Whether token 0 is a class token.
        residual_pool (bool): Add the pooled query to the output (MViTv2).
        residual_with_cls (bool): Whether that residual includes the class
            token.
        qkv_bias (bool): Bias of the ``qkv`` projection.
        norm_eps (float): LayerNorm epsilon.
        use_sdpa (bool): Use ``scaled_dot_product_attention``; False runs
            the explicit softmax (same result).
    """

    def __init__(self, in_dims: int, out_dims: int, num_heads: int,
                 kernel_q: Size3d, kernel_kv: Size3d, stride_q: Size3d,
                 stride_kv: Size3d, pool_mode: str,
                 rel_pos_size: Optional[Tuple[int, int]], with_cls_token: bool,
                 residual_pool: bool, residual_with_cls: bool, qkv_bias: bool,
                 norm_eps: float, use_sdpa: bool):
        super().__init__()
        self.num_heads = num_heads
        self.out_dims = out_dims
        self.head_dims = out_dims // num_heads
        self.with_cls_token = with_cls_token
        self.residual_pool = residual_pool
        self.residual_with_cls = residual_with_cls
        self.use_sdpa = use_sdpa
        self.qkv = nn.Linear(in_dims, 3 * out_dims, bias=qkv_bias)
        self.proj = nn.Linear(out_dims, out_dims)
        self.pool_q, self.norm_q = self._pool(kernel_q, stride_q, pool_mode,
                                              norm_eps)
        self.pool_k, self.norm_k = self._pool(kernel_kv, stride_kv, pool_mode,
                                              norm_eps)
        self.pool_v, self.norm_v = self._pool(kernel_kv, stride_kv, pool_mode,
                                              norm_eps)
        self.rel_pos_h = self.rel_pos_w = self.rel_pos_t = None
        if rel_pos_size is not None:
            spatial, temporal = rel_pos_size
            self.rel_pos_h = nn.Parameter(torch.zeros(spatial, self.head_dims))
            self.rel_pos_w = nn.Parameter(torch.zeros(spatial, self.head_dims))
            if temporal:
                self.rel_pos_t = nn.Parameter(
                    torch.zeros(temporal, self.head_dims))

    def _pool(self, kernel: Size3d, stride: Size3d, mode: str,
              eps: float) -> Tuple[Optional[nn.Module], Optional[nn.Module]]:
        if math.prod(kernel) == 1 and math.prod(stride) == 1:
            return None, None
        padding = tuple(k // 2 for k in kernel)
        if mode == 'conv':
            dims = self.head_dims
            conv = nn.Conv3d(
                dims, dims, kernel, stride, padding, groups=dims, bias=False)
            # `_pool_tokens` hands the conv channels-last tokens, so the
            # weight's gradient comes back channels-last; a weight stored
            # the same way (the same memory order for a depthwise kernel,
            # so the same numbers) lets DDP copy gradients into its buckets
            # without its "grad strides do not match" warning.
            conv.weight = nn.Parameter(
                conv.weight.detach().to(memory_format=torch.channels_last_3d))
            return conv, nn.LayerNorm(dims, eps=eps)
        if mode == 'avg':
            return AvgPool3d(kernel, stride, padding), None
        if mode == 'max':
            return nn.MaxPool3d(kernel, stride, padding), None
        raise ValueError(f'pool_mode must be conv, avg or max, got {mode}')

    def _rel_pos_axes(self) -> List[Tuple[int, nn.Parameter]]:
        """The grid axes (0: time, 1: rows, 2: columns) that have a
        relative-position table, with it, in the order of the terms."""
        tables = (self.rel_pos_t, self.rel_pos_h, self.rel_pos_w)
        return [(axis, t) for axis, t in enumerate(tables) if t is not None]

    def rel_pos_terms(self, q: torch.Tensor, q_thw: Size3d,
                      k_thw: Size3d) -> torch.Tensor:
        """The decomposed relative-position terms of every query: ``q .
        R(dt)``, ``q . R(dh)`` and ``q . R(dw)`` against each key time,
        row and column.

        Args:
            q (Tensor): ``(N, heads, Lq, C)`` pooled queries (unscaled).
            q_thw (tuple[int, int, int]): Query grid.
            k_thw (tuple[int, int, int]): Key grid.

        Returns:
            Tensor: ``(N, heads, Lq, kt + kh + kw)`` (``kt`` terms only with
            a temporal table), zero on the class-token row.
        """
        n, heads, _, c = q.shape
        offset = int(self.with_cls_token)
        r_q = q[:, :, offset:].reshape(n, heads, *q_thw, c)
        terms = torch.cat([
            torch.einsum(
                f'bnthwc,{"thw"[axis]}kc->bnthwk', r_q,
                _rel_pos_table(table, q_thw[axis], k_thw[axis]).to(q.dtype))
            for axis, table in self._rel_pos_axes()
        ], -1)
        return F.pad(terms.flatten(2, 4), (0, 0, offset, 0))

    def key_positions(self, k_thw: Size3d, like: torch.Tensor) -> torch.Tensor:
        """One-hot key time, row and column matching :meth:`rel_pos_terms`:
        ``(Lk, kt + kh + kw)``, zero on the class-token column."""
        grid = torch.stack(
            torch.meshgrid(
                *(torch.arange(n, device=like.device) for n in k_thw),
                indexing='ij'), -1).reshape(-1, 3)
        onehot = torch.cat([
            F.one_hot(grid[:, axis], k_thw[axis])
            for axis, _ in self._rel_pos_axes()
        ], -1)
        return F.pad(
            onehot.to(like.dtype), (0, 0, int(self.with_cls_token), 0))

    def forward(self, x: torch.Tensor,
                thw: Size3d) -> Tuple[torch.Tensor, Size3d]:
        """Attention over ``(N, [1 +] T*H*W, in_dims)`` tokens on grid
        ``thw``; returns ``(N, [1 +] T'*H'*W', out_dims)`` and
        ``(T', H', W')``, the query grid."""
        n, length, _ = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.num_heads,
                                      -1).permute(2, 0, 3, 1, 4).unbind(0)
        cls = self.with_cls_token
        k_thw = q_thw = thw
        if self.pool_k is not None:
            k, k_thw = _pool_tokens(k, self.pool_k, thw, cls, self.norm_k)
            v, _ = _pool_tokens(v, self.pool_v, thw, cls, self.norm_v)
        if self.pool_q is not None:
            q, q_thw = _pool_tokens(q, self.pool_q, thw, cls, self.norm_q)
        if self.use_sdpa:
            out = self._sdpa(q, k, v, q_thw, k_thw)
        else:
            attn = (q * self.head_dims**-0.5) @ k.transpose(-2, -1)
            if self.rel_pos_h is not None:
                terms = self.rel_pos_terms(q, q_thw, k_thw)
                attn = attn + terms @ self.key_positions(k_thw, q).t()
            out = attn.softmax(dim=-1) @ v
        if self.residual_pool:
            if cls and not self.residual_with_cls:
                out = torch.cat((out[:, :, :1], out[:, :, 1:] + q[:, :, 1:]),
                                dim=2)
            else:
                out = out + q
        out = out.transpose(1, 2).reshape(n, -1, self.out_dims)
        return self.proj(out), q_thw

    def _sdpa(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              q_thw: Size3d, k_thw: Size3d) -> torch.Tensor:
        """``scaled_dot_product_attention`` with the relative positions
        folded into the dot product instead of an ``(Lq, Lk)`` bias: a
        query's terms against each key time/row/column are appended to the
        scaled query, the key's one-hot time/row/column to the key, so
        ``q' . k' = q . k / sqrt(C) + q . (R(dt) + R(dh) + R(dw))``. No
        bias is materialised and the flash kernels (which take no bias)
        run, in training too; ``v`` is zero-padded to the same width (they
        need one head size for q, k and v; CUDA's, a multiple of 8) and
        the padding cut off the output."""
        if self.rel_pos_h is None:
            return F.scaled_dot_product_attention(q, k, v)
        terms = self.rel_pos_terms(q, q_thw, k_thw)
        keys = self.key_positions(k_thw, k).expand(*k.shape[:2], -1, -1)
        extra = terms.shape[-1]
        pad = -(self.head_dims + extra) % 8
        q = torch.cat((q * self.head_dims**-0.5, F.pad(terms, (0, pad))), -1)
        k = torch.cat((k, F.pad(keys, (0, pad))), -1)
        v = F.pad(v, (0, extra + pad))
        out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        return out[..., :self.head_dims]


class MultiScaleBlock(nn.Module):
    """A pooling-attention block with an MLP.

    Channels change from ``in_dims`` to ``out_dims`` in the attention
    (``dim_mul_in_att``, MViTv2) or in the MLP (MViTv1); the shortcut is
    projected by ``proj`` and max-pooled when the query is strided.

    Args:
        in_dims (int): Input channels.
        out_dims (int): Output channels.
        num_heads (int): Attention heads.
        mlp_ratio (float): MLP hidden channels per attention channel.
        drop_path (float): Stochastic depth probability.
        dim_mul_in_att (bool): Change channels in the attention.
        norm_eps (float): LayerNorm epsilon.
        **attn_kwargs: Remaining :class:`MultiScaleAttention` arguments
            (``kernel_q`` ... ``use_sdpa``).
    """

    def __init__(self, in_dims: int, out_dims: int, num_heads: int,
                 mlp_ratio: float, drop_path: float, dim_mul_in_att: bool,
                 norm_eps: float, **attn_kwargs):
        super().__init__()
        self.dim_mul_in_att = dim_mul_in_att
        self.with_cls_token = attn_kwargs['with_cls_token']
        attn_dims = out_dims if dim_mul_in_att else in_dims
        self.norm1 = nn.LayerNorm(in_dims, eps=norm_eps)
        self.attn = MultiScaleAttention(
            in_dims, attn_dims, num_heads, norm_eps=norm_eps, **attn_kwargs)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(attn_dims, eps=norm_eps)
        self.mlp = Mlp(attn_dims, int(attn_dims * mlp_ratio), out_dims)
        self.proj = (
            nn.Linear(in_dims, out_dims) if in_dims != out_dims else None)
        stride_q = attn_kwargs['stride_q']
        self.pool_skip = None
        if math.prod(stride_q) > 1:
            kernel = tuple(s + 1 if s > 1 else s for s in stride_q)
            self.pool_skip = nn.MaxPool3d(kernel, stride_q,
                                          tuple(k // 2 for k in kernel))

    def forward(self, x: torch.Tensor,
                thw: Size3d) -> Tuple[torch.Tensor, Size3d]:
        """``(N, L, in_dims)`` on grid ``thw`` -> ``(N, L', out_dims)`` on
        the pooled grid."""
        x_norm = self.norm1(x)
        x_attn, out_thw = self.attn(x_norm, thw)
        if self.dim_mul_in_att and self.proj is not None:
            x = self.proj(x_norm)
        if self.pool_skip is not None:
            x = _pool_tokens(x[:, None], self.pool_skip, thw,
                             self.with_cls_token)[0][:, 0]
        x = x + self.drop_path(x_attn)
        x_norm = self.norm2(x)
        if not self.dim_mul_in_att and self.proj is not None:
            x = self.proj(x_norm)
        return x + self.drop_path(self.mlp(x_norm)), out_thw


def _single_frame_conv(conv: nn.Conv3d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)``; for a single frame (an image, ``T = 1``) computed with
    the one temporal kernel slice that meets the frame.

    With zero temporal padding ``p`` and one output frame, only kernel slice
    ``p`` touches real input, so the 2-D-in-effect conv gives the same
    result at a fraction of the cost, and avoids the NaNs oneDNN's CPU
    bfloat16 conv3d produces over a padded length-1 time axis.
    """
    (kt, _, _), (st, sh, sw) = conv.kernel_size, conv.stride
    (pt, ph, pw) = conv.padding
    if x.shape[2] != 1 or pt >= kt or (1 + 2 * pt - kt) // st != 0:
        return conv(x)
    return F.conv3d(x, conv.weight[:, :, pt:pt + 1], conv.bias, (1, sh, sw),
                    (0, ph, pw), conv.dilation, conv.groups)


def _check_stage_q_strides(strides: Optional[Sequence[Sequence[int]]],
                           num_stages: int) -> List[Size3d]:
    """The per-stage query strides of :class:`MViT` (None: the published
    ones), checked: one positive ``(t, h, w)`` per stage."""
    if strides is None:
        return [(1, 1, 1)] + [(1, 2, 2)] * (num_stages - 1)
    strides = [tuple(s) for s in strides]
    if len(strides) != num_stages or any(
            len(s) != 3 or not all(isinstance(v, int) and v >= 1 for v in s)
            for s in strides):
        raise ValueError(f'stage_q_strides needs one (t, h, w) of positive '
                         f'ints per stage ({num_stages} stages), got '
                         f'{strides}')
    return strides


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _interpolate_grid(embed: torch.Tensor, src: Size3d,
                      dst: Size3d) -> torch.Tensor:
    """``(1, prod(src), C)`` embeddings -> ``(1, prod(dst), C)``
    (trilinear)."""
    if tuple(src) == tuple(dst):
        return embed
    c = embed.shape[-1]
    grid = embed.reshape(1, *src, c).permute(0, 4, 1, 2, 3)
    grid = F.interpolate(grid, size=dst, mode='trilinear', align_corners=False)
    return grid.flatten(2).transpose(1, 2)


@MODELS.register_module()
class MViT(BaseModule):
    """Multiscale Vision Transformer (MViTv2; MViTv1 with ``arch='v1-b'``).

    Images ``(N, C, H, W)`` are clips of one frame: they go through the same
    code path and weights as videos ``(N, C, T, H, W)`` of any size (position
    embeddings and relative-position tables are interpolated to the input).

    Block modulation (top-down neck API): ``forward(x, context)`` with a
    modulation context of the batch (made by the neck, e.g.
    :class:`~mvitx.models.necks.topdown.ModulationContext`) calls, once
    after the patch embedding, ``selection = context.select(N, stage0_thw,
    device)`` and, right after each block ``i`` in
    ``context.block_indices``, ``tokens, attention[i] = context.modulate(i,
    tokens, thw, stage0_tokens, stage0_thw, selection)``, where ``tokens``
    are the block's output WITHOUT the class token, ``(N, T*H*W, C)`` on
    grid ``thw`` (the class token is re-attached afterwards), and
    ``stage0_tokens`` are the unpooled patch-embedding tokens after the
    absolute position embedding (no class token), ``(N, T0*H0*W0, C0)`` on
    ``stage0_thw``. The forward then returns ``(outs,
    ModulationOutput(stage0_thw, selection, attention, stage0_tokens,
    context))``. The context's parameters belong to its neck; the backbone
    keeps nothing of it.
    ``embed_dims[0]`` and ``block_dims`` give the channels a neck must
    match; ``stage_strides`` (every stage) and ``out_strides`` (the
    ``out_indices`` stages) the ``(t, h, w)`` stride of the outputs in input
    frames and pixels (a detector's RoI scale).

    Args:
        arch (str | dict): A key of :data:`ARCH_SETTINGS` (``'xs'``,
            ``'tiny'``, ``'small'``, ``'base'``, ``'large'``,
            ``'image-tiny'`` ... ``'image-large'``, ``'v1-b'``) or a dict
            with all of its keys. Defaults to ``'small'``.
        out_indices (Sequence[int]): Stages whose output is returned
            (negative counts from the end). Defaults to ``(-1, )``.
        output_cls_token (bool): Return ``(map, cls_token)`` per stage when
            the arch has a class token. Defaults to True.
        input_size (Sequence[int], optional): ``(T, H, W)`` the position
            tables are sized for (they adapt to other inputs). Defaults to
            None: the arch's ``input_size``.
        in_channels (int): Input channels. Defaults to 3.
        mlp_ratio (float): MLP expansion. Defaults to 4.
        qkv_bias (bool): Bias in ``qkv``. Defaults to True.
        pool_mode (str): ``'conv'``, ``'avg'`` or ``'max'``. Defaults to
            ``'conv'``.
        drop_path_rate (float): Stochastic depth of the last block (linear
            from 0). Defaults to 0.
        norm_eps (float): LayerNorm epsilon. Defaults to 1e-6.
        use_sdpa (bool): Attention through
            ``scaled_dot_product_attention``. Defaults to True.
        with_cp (bool): Gradient checkpointing of every block. Defaults to
            False.
        stage_q_strides (Sequence[Sequence[int]], optional): ``(t, h, w)``
            query pooling stride of the first block of each stage; the k/v
            stride adapts (the arch's ``kv_stride`` divided by every query
            stride before it, at least 1), so a stage without query pooling
            keeps the k/v grid of the stage before. None: ``(1, 1, 1)`` for
            the first stage and ``(1, 2, 2)`` for the others, as published.
            E.g. ``((1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 1, 1))`` keeps the
            last stage of a four-stage arch at stride 16 instead of 32, as
            detection recipes do. The strides reached are
            :attr:`stage_strides` and :attr:`out_strides`. Defaults to None.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=...,
            prefix=...)`` loads (and converts from torchvision, timm,
            PySlowFast or mmaction2 formats, inflating image weights to
            video if needed) a checkpoint. Defaults to None.

    Examples:
        >>> model = MViT(arch='xs')
        >>> feats = model(torch.rand(2, 3, 4, 64, 64))
        >>> feats[-1][0].shape, feats[-1][1].shape
        (torch.Size([2, 64, 2, 8, 8]), torch.Size([2, 64]))
        >>> model(torch.rand(2, 3, 64, 64))[-1][0].shape
        torch.Size([2, 64, 1, 8, 8])
        >>> fine = MViT(arch='xs', stage_q_strides=((1, 1, 1), (1, 1, 1)))
        >>> fine.out_strides, fine(torch.rand(2, 3, 4, 64, 64))[-1][0].shape
        ([(2, 4, 4)], torch.Size([2, 64, 2, 16, 16]))
    """
    arch_zoo = ARCH_SETTINGS

    def __init__(self,
                 arch: Union[str, dict] = 'small',
                 out_indices: Sequence[int] = (-1, ),
                 output_cls_token: bool = True,
                 input_size: Optional[Sequence[int]] = None,
                 in_channels: int = 3,
                 mlp_ratio: float = 4.0,
                 qkv_bias: bool = True,
                 pool_mode: str = 'conv',
                 drop_path_rate: float = 0.0,
                 norm_eps: float = 1e-6,
                 use_sdpa: bool = True,
                 with_cp: bool = False,
                 stage_q_strides: Optional[Sequence[Sequence[int]]] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch not in ARCH_SETTINGS:
                raise KeyError(f'Unknown MViT arch {arch!r}; choose from '
                               f'{sorted(ARCH_SETTINGS)} or pass a dict')
            arch = ARCH_SETTINGS[arch]
        missing = ARCH_KEYS - set(arch)
        if missing:
            raise KeyError(f'MViT arch dict lacks {sorted(missing)}')
        self.arch = dict(arch)
        depths = tuple(arch['depths'])
        num_stages = len(depths)
        self.num_stages = num_stages
        self.num_layers = sum(depths)
        self.out_indices = tuple(sorted(i % num_stages for i in out_indices))
        self.with_cls_token = arch['cls_token']
        self.output_cls_token = output_cls_token and self.with_cls_token
        self.with_cp = with_cp
        self.embed_dims = [
            arch['embed_dims'] * 2**s for s in range(num_stages)
        ]
        self.out_channels = [self.embed_dims[s] for s in self.out_indices]
        stage_q_strides = _check_stage_q_strides(stage_q_strides, num_stages)
        # (t, h, w) stride of each stage's tokens in input pixels/frames.
        self.stage_strides: List[Size3d] = []
        stride = tuple(arch['patch_stride'])
        for stage_stride in stage_q_strides:
            stride = tuple(a * b for a, b in zip(stride, stage_stride))
            self.stage_strides.append(stride)
        self.out_strides = [self.stage_strides[s] for s in self.out_indices]
        # Output channels of each block, for necks that modulate blocks.
        self.block_dims: List[int] = []

        c0 = self.embed_dims[0]
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv3d(in_channels, c0,
                                          arch['patch_kernel'],
                                          arch['patch_stride'],
                                          arch['patch_padding'])
        input_size = tuple(input_size or arch['input_size'])
        self.input_size = input_size
        self.patch_grid = tuple(
            _conv_out(*args)
            for args in zip(input_size, arch['patch_kernel'],
                            arch['patch_stride'], arch['patch_padding']))
        self.cls_token = (
            nn.Parameter(torch.zeros(1, 1, c0))
            if self.with_cls_token else None)
        t0, h0, w0 = self.patch_grid
        self.abs_pos = arch['abs_pos']
        if self.abs_pos == 'joint':
            self.pos_embed = nn.Parameter(
                torch.zeros(1, t0 * h0 * w0 + int(self.with_cls_token), c0))
        elif self.abs_pos == 'separable':
            self.pos_embed_spatial = nn.Parameter(torch.zeros(1, h0 * w0, c0))
            self.pos_embed_temporal = nn.Parameter(torch.zeros(1, t0, c0))
            if self.with_cls_token:
                self.pos_embed_class = nn.Parameter(torch.zeros(1, 1, c0))
        elif self.abs_pos is not None:
            raise ValueError(f'abs_pos must be None, joint or separable, '
                             f'got {self.abs_pos}')

        self.blocks = nn.ModuleList()
        self.stage_ends: List[int] = []
        grid = list(self.patch_grid)
        kv_stride = tuple(arch['kv_stride'])
        dims = c0
        index = 0
        for stage, depth in enumerate(depths):
            heads = arch['num_heads'] * 2**stage
            for j in range(depth):
                stride_q = stage_q_strides[stage] if j == 0 else (1, 1, 1)
                strided = math.prod(stride_q) > 1
                kv_stride = tuple(
                    max(s // q, 1) for s, q in zip(kv_stride, stride_q))
                if arch['dim_mul_in_att']:
                    out_dims = self.embed_dims[stage]
                else:
                    last = j == depth - 1 and stage < num_stages - 1
                    out_dims = self.embed_dims[stage + int(last)]
                kernel_q = (
                    arch['pool_kernel']
                    if arch['pool_q_every_block'] or strided else (1, 1, 1))
                rel_pos_size = None
                if arch['rel_pos'] is not None:
                    size = max(grid[1:])
                    spatial = 2 * max(size // stride_q[1],
                                      size // kv_stride[1]) - 1
                    temporal = (2 * grid[0] - 1
                                if arch['rel_pos'] == 'spatiotemporal' else 0)
                    rel_pos_size = (spatial, temporal)
                self.blocks.append(
                    MultiScaleBlock(
                        dims,
                        out_dims,
                        heads,
                        mlp_ratio=mlp_ratio,
                        drop_path=drop_path_rate * index /
                        max(self.num_layers - 1, 1),
                        dim_mul_in_att=arch['dim_mul_in_att'],
                        norm_eps=norm_eps,
                        kernel_q=kernel_q,
                        kernel_kv=arch['pool_kernel'],
                        stride_q=stride_q,
                        stride_kv=kv_stride,
                        pool_mode=pool_mode,
                        rel_pos_size=rel_pos_size,
                        with_cls_token=self.with_cls_token,
                        residual_pool=arch['residual_pool'],
                        residual_with_cls=arch['residual_with_cls'],
                        qkv_bias=qkv_bias,
                        use_sdpa=use_sdpa))
                grid = [g // s for g, s in zip(grid, stride_q)]
                dims = out_dims
                self.block_dims.append(out_dims)
                index += 1
            self.stage_ends.append(index - 1)
        self.norm = nn.LayerNorm(dims, eps=norm_eps)
        self.stage_norms = nn.ModuleDict({
            str(s):
            nn.LayerNorm(self.embed_dims[s], eps=norm_eps)
            for s in self.out_indices if s != num_stages - 1
        })

    # ------------------------------------------------------------------
    # interface shared by mvitx backbones
    # ------------------------------------------------------------------
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute every block in the backward pass (saves memory)."""
        self.with_cp = enable

    def no_weight_decay(self) -> set:
        """Names of the class token and position parameters."""
        return {
            name
            for name, _ in self.named_parameters()
            if name in ('cls_token', 'pos_embed', 'pos_embed_spatial',
                        'pos_embed_temporal',
                        'pos_embed_class') or '.rel_pos_' in name
        }

    def get_layer_id(self, param_name: str) -> int:
        """Layer id for layer-wise lr decay: 0 for the patch/position
        embeddings and class token, ``i + 1`` for block ``i``,
        ``num_layers + 1`` for the output norms.

        Args:
            param_name (str): Parameter name, with or without a
                ``backbone.`` prefix.
        """
        name = param_name.split('backbone.', 1)[-1]
        if name.startswith(('patch_embed', 'cls_token', 'pos_embed')):
            return 0
        if name.startswith('blocks.'):
            return int(name.split('.')[1]) + 1
        return self.num_layers + 1

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def _abs_pos_embed(self, thw: Size3d) -> torch.Tensor:
        """``(1, T*H*W, C)`` absolute position embedding for grid ``thw``
        (no class-token entry)."""
        src = self.patch_grid
        if self.abs_pos == 'joint':
            return _interpolate_grid(
                self.pos_embed[:, int(self.with_cls_token):], src, thw)
        t, h, w = thw
        spatial = _interpolate_grid(self.pos_embed_spatial, (1, ) + src[1:],
                                    (1, h, w))
        temporal = _interpolate_grid(self.pos_embed_temporal, (src[0], 1, 1),
                                     (t, 1, 1))
        return (temporal[:, :, None] + spatial[:, None]).flatten(1, 2)

    def _cls_pos_embed(self) -> Optional[torch.Tensor]:
        if self.abs_pos == 'joint':
            return self.pos_embed[:, :1]
        if self.abs_pos == 'separable':
            return self.pos_embed_class
        return None

    def embed(self, x: torch.Tensor) -> Tuple[torch.Tensor, Size3d]:
        """Patch embedding plus absolute positions.

        Args:
            x (Tensor): ``(N, C, T, H, W)`` or ``(N, C, H, W)``.

        Returns:
            tuple: The unpooled stage-0 tokens ``(N, T0*H0*W0, C0)`` (no
            class token) and their grid ``(T0, H0, W0)``.
        """
        if x.ndim == 4:
            x = x[:, :, None]
        x = _single_frame_conv(self.patch_embed.proj, x)
        thw = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2)
        if self.abs_pos is not None:
            x = x + self._abs_pos_embed(thw)
        return x, thw

    def _run_block(self, index: int, x: torch.Tensor,
                   thw: Size3d) -> Tuple[torch.Tensor, Size3d]:
        block = self.blocks[index]
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(block, x, thw, use_reentrant=False)
        return block(x, thw)

    def _stage_output(self, stage: int, x: torch.Tensor,
                      thw: Size3d) -> Union[torch.Tensor, tuple]:
        norm = (
            self.norm if stage == self.num_stages -
            1 else self.stage_norms[str(stage)])
        x = norm(x)
        offset = int(self.with_cls_token)
        feat_map = x[:, offset:].transpose(1,
                                           2).reshape(x.shape[0], x.shape[2],
                                                      *thw)
        if self.output_cls_token:
            return feat_map, x[:, 0]
        return feat_map

    def forward_features(
        self,
        x: torch.Tensor,
        context: Any = None
    ) -> Tuple[tuple, torch.Tensor, Size3d, Optional[ModulationOutput]]:
        """Stage outputs, the unpooled first-stage tokens and what the
        modulation context returned.

        Args:
            x (Tensor): ``(N, C, T, H, W)`` videos or ``(N, C, H, W)``
                images.
            context (optional): The batch's modulation context (see the
                class doc). Defaults to None (no modulation).

        Returns:
            tuple: ``(outs, stage0_tokens, stage0_thw, modulation)``:
            ``outs`` as from :meth:`forward`; ``stage0_tokens``
            ``(N, T0*H0*W0, C0)`` on grid ``stage0_thw``; ``modulation`` a
            :class:`~mvitx.models.necks.base_neck.ModulationOutput`, None
            without a context.
        """
        stage0, stage0_thw = self.embed(x)
        tokens = stage0
        if self.with_cls_token:
            cls_token = self.cls_token.expand(x.shape[0], -1, -1)
            cls_pos = self._cls_pos_embed()
            if cls_pos is not None:
                cls_token = cls_token + cls_pos
            tokens = torch.cat((cls_token, tokens), dim=1)
        modulated_blocks, selection, attention = (), None, {}
        if context is not None:
            modulated_blocks = context.block_indices
            unknown = set(modulated_blocks) - set(range(self.num_layers))
            if unknown:
                raise IndexError(f'the context modulates blocks '
                                 f'{sorted(unknown)}; the backbone has '
                                 f'blocks 0 to {self.num_layers - 1}')
            selection = context.select(x.shape[0], stage0_thw, x.device)
        thw = stage0_thw
        outs = []
        offset = int(self.with_cls_token)
        for index in range(self.num_layers):
            tokens, thw = self._run_block(index, tokens, thw)
            if index in modulated_blocks:
                modulated, attention[index] = context.modulate(
                    index, tokens[:, offset:], thw, stage0, stage0_thw,
                    selection)
                tokens = torch.cat((tokens[:, :offset], modulated), dim=1)
            if index in self.stage_ends:
                stage = self.stage_ends.index(index)
                if stage in self.out_indices:
                    outs.append(self._stage_output(stage, tokens, thw))
        modulation = None
        if context is not None:
            modulation = ModulationOutput(stage0_thw, selection, attention,
                                          stage0, context)
        return tuple(outs), stage0, stage0_thw, modulation

    def forward(
            self,
            x: torch.Tensor,
            context: Any = None
    ) -> Union[tuple, Tuple[tuple, ModulationOutput]]:
        """Stage outputs, modulated when a context is given.

        Args:
            x (Tensor): ``(N, C, T, H, W)`` videos or ``(N, C, H, W)``
                images (``T = 1``).
            context (optional): The batch's modulation context from the
                neck (see the class doc). Defaults to None.

        Returns:
            tuple: One entry per ``out_indices`` stage: ``(N, C, T', H',
            W')`` normalised maps, or ``(map, cls_token (N, C))`` with
            ``output_cls_token``. With a context, ``(outs, modulation)``
            with ``modulation`` a
            :class:`~mvitx.models.necks.base_neck.ModulationOutput`.
        """
        outs, _, _, modulation = self.forward_features(x, context)
        return outs if context is None else (outs, modulation)

    # ------------------------------------------------------------------
    # weights
    # ------------------------------------------------------------------
    def init_weights(self) -> None:
        """Truncated-normal init, then loading ``init_cfg``'s checkpoint
        when it is ``Pretrained`` (any supported format, see
        :mod:`.mvit_convert`; weights it lacks keep their init)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        no_weight_decay = self.no_weight_decay()
        for name, param in self.named_parameters():
            if name in no_weight_decay:
                nn.init.trunc_normal_(param, std=0.02)
        if self.init_cfg is not None and self.init_cfg.get(
                'type') == 'Pretrained':
            load_pretrained(
                self,
                self.init_cfg['checkpoint'],
                prefix=self.init_cfg.get('prefix'),
                logger=MMLogger.get_current_instance())
        self._is_init = True

    def checkpoint_filter(self, state_dict: Dict[str, torch.Tensor]) -> dict:
        """Backbone weights of any supported format (see
        :mod:`.mvit_convert`: mvitx, torchvision, timm, PySlowFast,
        mmaction2; a classifier is dropped) in this model's names and
        shapes where they can be adapted: image kernels inflated ('center'),
        relative-position tables resized (e.g. for other
        ``stage_q_strides``), position embeddings tiled over time.

        Args:
            state_dict (dict[str, Tensor]): Backbone weights, without a
                ``backbone.`` prefix (:class:`~mvitx.models.weight_init.
                PretrainedParts` strips it).

        Returns:
            dict[str, Tensor]: Weights to load into this model.
        """
        backbone, _ = convert_state_dict(state_dict)
        return inflate_image_to_video(backbone, self)
