"""FLOPs and parameters of a config's backbone, with and without its
top-down neck: ``python tools/analysis/get_flops.py CONFIG [--shape T H W]
[--cfg-options model.backbone.stage_q_strides=...]``, and the stride of the
backbone's last output (what an AVA detector's RoI head pools at).

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode``
(matrix multiplications, convolutions and attention; one multiply-add is
two FLOPs; element-wise operations are not counted). Attention runs on
PyTorch's math backend here, since the counter has no formula for the fused
CPU kernel. The neck is measured
at its worst case: every frame carries a full-frame hand box, so every
first-stage token is a candidate and the selection fills the whole token
budget. The classification heads (one linear layer) are left out.
"""
import argparse
import functools
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.structures import BaseDataElement
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from mvitx.registry import MODELS
from mvitx.structures import HAND, ActionDataSample
from mvitx.utils import load_config, register_all_modules


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='FLOPs/params of a model with and without top-down')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=[16, 224, 224],
        help='input T H W (a clip) or H W (an image)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args(argv)


def full_frame_samples(batch: int, num_frames: int,
                       hw: Tuple[int, int]) -> List[ActionDataSample]:
    """Samples whose every frame has one full-frame hand box."""
    samples = []
    for _ in range(batch):
        sample = ActionDataSample(metainfo=dict(img_shape=hw))
        sample.priors = BaseDataElement(
            bboxes=torch.tensor([[[0., 0., hw[1], hw[0]]]] * num_frames),
            types=torch.full((num_frames, 1), HAND, dtype=torch.long),
            scores=torch.ones(num_frames, 1),
            valid=torch.ones(num_frames, 1, dtype=torch.bool))
        samples.append(sample)
    return samples


def count_flops(model, x: torch.Tensor) -> int:
    """FLOPs of ``model(x)`` without gradients."""
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), \
            FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


def num_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def measure(cfg: Config,
            shape: List[int]) -> Tuple[List[Tuple[str, int, int]], tuple]:
    """``(name, params, flops)`` of the backbone, and of backbone + neck
    when the config has a neck, and the ``(t, h, w)`` stride of the
    backbone's last output."""
    if len(shape) not in (2, 3):
        raise ValueError(f'--shape takes T H W or H W, got {shape}')
    x = torch.randn(1, 3, *shape)
    backbone = MODELS.build(cfg.model.backbone).eval()
    rows = [('backbone', num_params(backbone), count_flops(backbone, x))]
    if cfg.model.get('neck') is not None:
        neck = MODELS.build(cfg.model.neck).eval()
        neck.check_backbone(backbone)
        num_frames = shape[0] if len(shape) == 3 else 1
        context = neck.make_context(
            full_frame_samples(1, num_frames, tuple(shape[-2:])), x.shape)
        rows.append(
            ('backbone + ' + cfg.model.neck.type,
             num_params(backbone) + num_params(neck),
             count_flops(functools.partial(backbone, context=context), x)))
    return rows, tuple(backbone.out_strides[-1])


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    register_all_modules()
    cfg = load_config(args.config, args.cfg_options)
    rows, out_stride = measure(cfg, args.shape)
    shape = 'x'.join(map(str, args.shape))
    print(f'{args.config}, input 1x3x{shape}')
    print(f'{"model":<32} {"params (M)":>11} {"GFLOPs":>9}')
    for name, params, flops in rows:
        print(f'{name:<32} {params / 1e6:>11.3f} {flops / 1e9:>9.3f}')
    if len(rows) == 2:
        (_, p0, f0), (_, p1, f1) = rows
        print(f'overhead: params +{100 * (p1 - p0) / p0:.2f}%, '
              f'FLOPs +{100 * (f1 - f0) / f0:.2f}%')
    print(f'output stride (t, h, w): {out_stride}')


if __name__ == '__main__':
    main()
