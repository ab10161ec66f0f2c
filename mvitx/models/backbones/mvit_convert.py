"""Weight conversion into :class:`~mvitx.models.backbones.mvit.MViT`.

Sources: torchvision (``mvit_v1_b``, ``mvit_v2_s``), timm (``mvitv2_*``
image models), PySlowFast / facebookresearch-mvit (``model_state``) and
mmaction2's MViT. Every converter maps one state dict to ``(backbone,
head)``: mvitx backbone keys and the classifier as ``{'fc.weight',
'fc.bias'}`` (empty when the checkpoint has none). Image weights become video
weights with :func:`inflate_image_to_video`.
"""
import logging
import re
from collections import OrderedDict
from typing import Callable, Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.runner import CheckpointLoader

from ..weight_init import StateDict, load_matching, unwrap_checkpoint

FORMATS = ('mvitx', 'torchvision', 'timm', 'slowfast', 'mmaction2')
_POS_KEYS = ('pos_embed', 'pos_embed_spatial', 'pos_embed_temporal',
             'pos_embed_class')


def _rename(state_dict: StateDict, rules) -> Tuple[StateDict, StateDict]:
    """Applies ``(pattern, replacement)`` regex rules in order; keys that
    end up starting with ``head:`` go to the head dict."""
    backbone, head = OrderedDict(), OrderedDict()
    for key, value in state_dict.items():
        for pattern, repl in rules:
            key = re.sub(pattern, repl, key)
        if key.startswith('head:'):
            head[key[5:]] = value
        elif key:
            backbone[key] = value
    return backbone, head


def convert_torchvision(state_dict: StateDict) -> Tuple[StateDict, StateDict]:
    """torchvision ``MViT`` (``mvit_v1_b``/``mvit_v2_s``) -> mvitx."""
    backbone, head = _rename(state_dict, [
        (r'^conv_proj\.', 'patch_embed.proj.'),
        (r'^head\.1\.', 'head:fc.'),
        (r'\.attn\.project\.0\.', '.attn.proj.'),
        (r'\.attn\.pool_([qkv])\.pool\.', r'.attn.pool_\1.'),
        (r'\.attn\.pool_([qkv])\.norm_act\.0\.', r'.attn.norm_\1.'),
        (r'\.mlp\.0\.', '.mlp.fc1.'),
        (r'\.mlp\.3\.', '.mlp.fc2.'),
        (r'^(blocks\.\d+)\.project\.', r'\1.proj.'),
        (r'^pos_encoding\.class_token$', 'cls_token'),
        (r'^pos_encoding\.spatial_pos$', 'pos_embed_spatial'),
        (r'^pos_encoding\.temporal_pos$', 'pos_embed_temporal'),
        (r'^pos_encoding\.class_pos$', 'pos_embed_class'),
    ])
    for key in ('cls_token', 'pos_embed_class'):
        if key in backbone:
            backbone[key] = backbone[key].reshape(1, 1, -1)
    for key in ('pos_embed_spatial', 'pos_embed_temporal'):
        if key in backbone:
            backbone[key] = backbone[key][None]
    return backbone, head


def convert_timm(state_dict: StateDict) -> Tuple[StateDict, StateDict]:
    """timm ``MultiScaleVit`` (``mvitv2_*``, 2D) -> mvitx (convs get a
    temporal kernel of 1)."""
    depths: Dict[int, int] = {}
    for key in state_dict:
        match = re.match(r'stages\.(\d+)\.blocks\.(\d+)\.', key)
        if match:
            stage, block = map(int, match.groups())
            depths[stage] = max(depths.get(stage, 0), block + 1)
    starts = {s: sum(depths[i] for i in range(s)) for s in depths}

    def block_index(match):
        stage, block = map(int, match.groups())
        return f'blocks.{starts[stage] + block}.'

    renamed = OrderedDict(
        (re.sub(r'^stages\.(\d+)\.blocks\.(\d+)\.', block_index, k), v)
        for k, v in state_dict.items())
    backbone, head = _rename(renamed, [
        (r'^head\.fc\.', 'head:fc.'),
        (r'\.shortcut_proj_(attn|mlp)\.', '.proj.'),
    ])
    for key, value in backbone.items():
        if value.ndim == 4:
            backbone[key] = value[:, :, None]
    return backbone, head


def convert_slowfast(state_dict: StateDict) -> Tuple[StateDict, StateDict]:
    """PySlowFast / facebookresearch-mvit ``model_state`` -> mvitx.

    Their key names are mvitx's; separate ``attn.q/k/v`` projections
    (``MVIT.SEPARATE_QKV``) are fused into ``attn.qkv``. ``POOL_FIRST``
    models (pooling before the projections) compute another function and
    are not supported.
    """
    backbone, head = _rename(state_dict, [
        (r'^module\.', ''),
        (r'^head\.projection\.', 'head:fc.'),
    ])
    for key in [k for k in backbone if re.search(r'\.attn\.q\.weight$', k)]:
        prefix = key[:-len('q.weight')]
        for param in ('weight', 'bias'):
            parts = [prefix + f'{p}.{param}' for p in 'qkv']
            if all(p in backbone for p in parts):
                backbone[prefix + f'qkv.{param}'] = torch.cat(
                    [backbone.pop(p) for p in parts])
    return backbone, head


def convert_mmaction2(state_dict: StateDict) -> Tuple[StateDict, StateDict]:
    """mmaction2 ``MViT`` recognizer or backbone -> mvitx.

    mmaction2 names the output norms ``norm{stage}``; the last stage's
    becomes ``norm``, the others ``stage_norms.{stage}``.
    """
    stages = sorted(
        int(m.group(1)) for k in state_dict
        for m in [re.match(r'^(?:backbone\.)?norm(\d+)\.weight$', k)] if m)
    last = stages[-1] if stages else -1
    backbone, head = _rename(state_dict, [
        (r'^backbone\.', ''),
        (r'^cls_head\.fc_cls\.', 'head:fc.'),
        (r'^(?:cls_head|data_preprocessor)\..*', ''),
        (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
        (rf'^norm{last}\.', 'norm.'),
        (r'^norm(\d+)\.', r'stage_norms.\1.'),
    ])
    return backbone, head


CONVERTERS: Dict[str, Callable] = dict(
    torchvision=convert_torchvision,
    timm=convert_timm,
    slowfast=convert_slowfast,
    mmaction2=convert_mmaction2,
)


def detect_format(state_dict: StateDict) -> str:
    """Guesses which implementation wrote ``state_dict``.

    Returns:
        str: One of :data:`FORMATS`.
    """
    keys = list(state_dict)

    def has(pattern):
        return any(re.search(pattern, k) for k in keys)

    if has(r'^conv_proj\.') or has(r'^pos_encoding\.'):
        return 'torchvision'
    if has(r'^stages\.\d+\.blocks\.'):
        return 'timm'
    if has(r'^(backbone\.)?patch_embed\.projection\.') or has(
            r'^cls_head\.fc_cls'):
        return 'mmaction2'
    if has(r'^head\.projection\.') or has(r'^module\.blocks\.'):
        return 'slowfast'
    if has(r'^(backbone\.)?patch_embed\.proj\.') or has(r'^heads\.'):
        return 'mvitx'
    raise ValueError('Unrecognised MViT checkpoint; keys start with '
                     f'{keys[:5]}')


def convert_state_dict(
        state_dict: StateDict,
        src: Optional[str] = None) -> Tuple[StateDict, StateDict]:
    """Any supported format -> ``(backbone, head)`` mvitx state dicts.

    Args:
        state_dict (dict): The source weights.
        src (str, optional): One of :data:`FORMATS`; None detects it.
    """
    src = src or detect_format(state_dict)
    if src == 'mvitx':
        backbone, head = _rename(state_dict, [
            (r'^backbone\.', ''),
            (r'^heads\.[^.]+\.fc\.', 'head:fc.'),
            (r'^(?:heads|neck|data_preprocessor)\..*', ''),
        ])
        return backbone, head
    if src not in CONVERTERS:
        raise ValueError(f'src must be one of {FORMATS}, got {src}')
    return CONVERTERS[src](state_dict)


def _inflate_kernel(weight: torch.Tensor, kt: int, mode: str) -> torch.Tensor:
    """``(O, I, 1, h, w)`` -> ``(O, I, kt, h, w)``: the 2D kernel on the
    centre tap (``'center'``) or spread evenly (``'mean'``)."""
    if mode == 'center':
        out = weight.new_zeros(weight.shape[:2] + (kt, ) + weight.shape[3:])
        out[:, :, kt // 2] = weight[:, :, 0]
        return out
    if mode == 'mean':
        return weight.repeat(1, 1, kt, 1, 1) / kt
    raise ValueError(f'mode must be center or mean, got {mode}')


def _resize_table(table: torch.Tensor, length: int) -> torch.Tensor:
    if table.shape[0] == length:
        return table
    return F.interpolate(table.t()[None], size=length, mode='linear')[0].t()


def inflate_image_to_video(state_dict: StateDict,
                           model: nn.Module,
                           mode: str = 'center') -> StateDict:
    """Adapts (image) weights to the shapes of ``model``'s parameters.

    Patch and pooling convs with a temporal kernel of 1 are inflated,
    missing temporal relative-position tables start at zero, spatial tables
    are interpolated to ``model``'s sizes and absolute position embeddings
    are tiled over time. With ``mode='center'`` the inflated model computes
    the image model's function on single frames (when the architectures
    otherwise agree).

    Args:
        state_dict (dict): mvitx backbone weights (e.g. from a converted
            timm image checkpoint).
        model (nn.Module): The target :class:`MViT`.
        mode (str): ``'center'`` or ``'mean'`` kernel inflation.

    Returns:
        dict: Weights with ``model``'s shapes where they could be adapted.
    """
    out = OrderedDict(state_dict)
    for key, target in model.state_dict().items():
        if key not in out:
            if key.endswith('.rel_pos_t'):
                out[key] = torch.zeros_like(target)
            continue
        value = out[key]
        if value.shape == target.shape:
            continue
        if value.ndim == 5 and value.shape[2] == 1:
            out[key] = _inflate_kernel(value, target.shape[2], mode)
        elif '.rel_pos_' in key:
            out[key] = _resize_table(value, target.shape[0])
        elif key == 'pos_embed':
            out[key] = _tile_pos_embed(value, model, target.shape[1])
        elif key == 'pos_embed_temporal':
            out[key] = value.expand(1, target.shape[1], -1).clone()
    return out


def _tile_pos_embed(value: torch.Tensor, model: nn.Module,
                    length: int) -> torch.Tensor:
    """Joint ``(1, [1 +] H*W, C)`` embedding tiled over ``T0`` frames."""
    extra = int(model.with_cls_token)
    t0 = model.patch_grid[0]
    spatial = value[:, value.shape[1] - (length - extra) // t0:]
    tiled = spatial.repeat(1, t0, 1)
    if extra:
        cls_pos = (
            value[:, :1] if value.shape[1] > spatial.shape[1] else
            value.new_zeros(1, 1, value.shape[2]))
        tiled = torch.cat((cls_pos, tiled), dim=1)
    return tiled


def build_torchvision_mvit(name: str, input_size: Tuple[int, int, int],
                           **kwargs) -> nn.Module:
    """torchvision's ``mvit_v1_b``/``mvit_v2_s`` at any ``(T, H, W)``.

    torchvision's builders fix 16x224x224; this reads their block settings
    and builds ``torchvision.models.video.MViT`` at ``input_size`` (the
    reference for conversion checks and benchmarks), random weights.

    Args:
        name (str): ``'mvit_v1_b'`` or ``'mvit_v2_s'``.
        input_size (tuple[int, int, int]): ``(T, H, W)``.
        **kwargs: Overrides of ``MViT`` arguments (e.g.
            ``stochastic_depth_prob``).
    """
    from unittest import mock

    import torchvision.models.video.mvit as tv_mvit
    with mock.patch.object(tv_mvit, '_mvit', side_effect=lambda **kw: kw):
        settings = getattr(tv_mvit, name)()
    for key in ('weights', 'progress', 'spatial_size', 'temporal_size'):
        settings.pop(key)
    # the defaults torchvision's ``_mvit`` applies
    settings = dict(
        dict(
            residual_pool=False,
            residual_with_cls_embed=True,
            rel_pos_embed=False,
            proj_after_attn=False), **settings)
    settings.update(kwargs)
    return tv_mvit.MViT(
        spatial_size=tuple(input_size[1:]),
        temporal_size=input_size[0],
        **settings)


def load_pretrained(model: nn.Module,
                    filename: str,
                    prefix: Optional[str] = None,
                    src: Optional[str] = None,
                    inflate_mode: str = 'center',
                    logger: Union[logging.Logger, str] = 'current') -> None:
    """Loads a checkpoint of any supported format into ``model``.

    Weights whose shapes still differ after conversion are skipped; what
    did not load is logged at WARNING (:func:`~mvitx.models.weight_init.
    load_matching`).

    Args:
        model (nn.Module): The :class:`MViT` to fill.
        filename (str): Checkpoint path or URL (mmengine loaders).
        prefix (str, optional): Keep only keys under this prefix (e.g.
            ``'backbone.'``), prefix removed.
        src (str, optional): Source format; None detects it.
        inflate_mode (str): See :func:`inflate_image_to_video`.
        logger (logging.Logger | str): Logger or mmengine logger name for
            the report. Defaults to ``'current'``.
    """
    state_dict = unwrap_checkpoint(
        CheckpointLoader.load_checkpoint(filename, map_location='cpu'))
    if prefix:
        state_dict = OrderedDict((k[len(prefix):], v)
                                 for k, v in state_dict.items()
                                 if k.startswith(prefix))
    backbone, _ = convert_state_dict(state_dict, src)
    backbone = inflate_image_to_video(backbone, model, inflate_mode)
    load_matching(model, backbone, f'MViT weights from {filename}', logger)


def to_checkpoint(backbone: StateDict,
                  head: StateDict,
                  source: str,
                  meta: Optional[dict] = None) -> dict:
    """An mmengine checkpoint for ``CoTrainRecognizer``: ``backbone.*`` and
    the classifier as ``heads.<source>.fc.*``."""
    state_dict = OrderedDict((f'backbone.{k}', v) for k, v in backbone.items())
    for key, value in head.items():
        state_dict[f'heads.{source}.{key}'] = value
    return dict(state_dict=state_dict, meta=dict(meta or {}))
