"""Train-step and inference throughput and peak memory: mvitx ``MViT`` vs
torchvision's ``mvit_v2_s``, same input and same (converted) weights.

Throughput: both models in one process, their steps timed in turns (a
changing machine load hits both alike), clips/s from the median step time.
``--profile N`` prints, per model and mode, the N operators with the most
self time in one step. Peak memory: each model in a fresh
process (CUDA: ``max_memory_allocated``; CPU: peak resident set size of the
process, which includes the Python/torch baseline). On CUDA the models run
under bf16 autocast.

With ``--compile`` both models run through ``torch.compile`` (inductor;
on CPU it needs a C++ compiler); the warm-up steps include the compilation.

Examples:
    python tools/analysis/benchmark_backbone.py --device cpu --frames 8 \\
        --size 112 --batch 2
    python tools/analysis/benchmark_backbone.py --compile  # CUDA, compiled
    python tools/analysis/benchmark_backbone.py  # CUDA, 16x224x224, batch 8
"""
import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import tempfile
import time
from contextlib import nullcontext
from typing import Optional, Tuple

import torch
import torch.nn as nn
from torch.profiler import profile

from mvitx.models.backbones import MViT
from mvitx.models.backbones.mvit_convert import (build_torchvision_mvit,
                                                 convert_torchvision)

IMPLS = ('torchvision', 'mvitx')
MODES = ('train', 'infer')


class MViTClassifier(nn.Module):
    """mvitx backbone + linear head on the class token, like torchvision's
    ``MViT`` (so both compute the same logits)."""

    def __init__(self, backbone: MViT, fc: nn.Linear):
        super().__init__()
        self.backbone = backbone
        self.fc = fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x)[-1][1])


def build(impl: str,
          weights: str,
          input_size: Tuple[int, int, int],
          with_cp: bool = False) -> nn.Module:
    """``impl``'s MViTv2-S classifier (``'torchvision'`` or ``'mvitx'``)
    with torchvision's weights from the file ``weights`` (converted for
    mvitx), sized for ``input_size`` ``(T, H, W)``; ``with_cp`` turns on
    gradient checkpointing in mvitx."""
    state = torch.load(
        weights, map_location='cpu', mmap=True, weights_only=True)
    if impl == 'torchvision':
        model = build_torchvision_mvit(
            'mvit_v2_s', input_size, stochastic_depth_prob=0.0)
        model.load_state_dict(state)
        return model
    backbone, head = convert_torchvision(state)
    model = MViT(arch='small', input_size=input_size, with_cp=with_cp)
    model.load_state_dict(backbone)
    fc = nn.Linear(*head['fc.weight'].shape[::-1])
    fc.load_state_dict({k[3:]: v for k, v in head.items()})
    return MViTClassifier(model, fc)


def save_weights(path: str, input_size: Tuple[int, int, int]) -> None:
    """Writes random torchvision ``mvit_v2_s`` weights (seed 0) for
    ``input_size`` to ``path``, the weights both implementations load."""
    torch.manual_seed(0)
    torch.save(
        build_torchvision_mvit('mvit_v2_s', input_size).state_dict(), path)


class Runner:
    """One model's train step (forward, cross-entropy, backward, SGD) or
    inference forward on a fixed random input; on CUDA under bf16
    autocast.

    Args:
        impl (str): ``'torchvision'`` or ``'mvitx'``.
        mode (str): ``'train'`` or ``'infer'``.
        weights (str): torchvision ``mvit_v2_s`` weights file.
        device (str): ``'cpu'`` or ``'cuda'``.
        batch (int): Clips per step.
        input_size (tuple[int, int, int]): ``(T, H, W)`` of a clip.
        with_cp (bool): Gradient checkpointing in mvitx. Defaults to False.
        compile (dict, optional): ``torch.compile`` keyword arguments
            (``{}`` for its defaults: the inductor backend); None runs the
            model eagerly. Defaults to None.
    """

    def __init__(self,
                 impl: str,
                 mode: str,
                 weights: str,
                 device: str,
                 batch: int,
                 input_size: Tuple[int, int, int],
                 with_cp: bool = False,
                 compile: Optional[dict] = None):
        self.device = torch.device(device)
        self.mode = mode
        model = build(impl, weights, input_size, with_cp).to(self.device)
        model.train(mode == 'train')
        self.optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
        self.model = model if compile is None else torch.compile(
            model, **compile)
        generator = torch.Generator().manual_seed(1)
        self.x = torch.randn(
            batch, 3, *input_size, generator=generator).to(self.device)
        self.target = torch.randint(
            0, 400, (batch, ), generator=generator).to(self.device)

    def autocast(self):
        if self.device.type == 'cuda':
            return torch.autocast('cuda', dtype=torch.bfloat16)
        return nullcontext()

    def step(self):
        if self.mode == 'train':
            with self.autocast():
                loss = nn.functional.cross_entropy(
                    self.model(self.x), self.target)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        else:
            with torch.inference_mode(), self.autocast():
                self.model(self.x)
        if self.device.type == 'cuda':
            torch.cuda.synchronize()


def make_runner(impl: str, mode: str, args) -> Runner:
    """The :class:`Runner` of ``impl`` and ``mode`` the command line asks
    for."""
    return Runner(
        impl,
        mode,
        args.weights,
        args.device,
        args.batch, (args.frames, args.size, args.size),
        with_cp=args.with_cp,
        compile={} if args.compile else None)


def setup(args):
    if args.threads:
        torch.set_num_threads(args.threads)


def throughput(mode: str, args) -> Tuple[dict, dict]:
    """Clips/s of both implementations, timed step by step in turns so
    that a changing machine load hits both alike: the batch over the
    median step time. With ``args.profile`` also, per implementation, the
    table of the ``args.profile`` operators with the most self time in
    one more step (``torch.profiler``)."""
    setup(args)
    runners = {impl: make_runner(impl, mode, args) for impl in IMPLS}
    for runner in runners.values():
        for _ in range(args.warmup):
            runner.step()
    seconds = {impl: [] for impl in IMPLS}
    for _ in range(args.iters):
        for impl, runner in runners.items():
            start = time.perf_counter()
            runner.step()
            seconds[impl].append(time.perf_counter() - start)
    speed = {
        impl: args.batch / statistics.median(seconds[impl])
        for impl in IMPLS
    }
    profiles = {}
    for impl, runner in runners.items() if args.profile else ():
        with profile() as prof:
            runner.step()
        sort = 'self_device_time_total' if args.device.startswith(
            'cuda') else 'self_cpu_time_total'
        profiles[impl] = prof.key_averages().table(
            sort_by=sort, row_limit=args.profile)
    return speed, profiles


def peak_memory(impl: str, mode: str, args) -> float:
    """Peak MiB of ``impl`` in a fresh process: CUDA allocated memory, or
    the process's peak resident set on CPU."""
    setup(args)
    runner = make_runner(impl, mode, args)
    if runner.device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    for _ in range(args.warmup + 1):
        runner.step()
    if runner.device.type == 'cuda':
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def check_same_logits(args) -> float:
    """Max abs difference of the two models' logits on the benchmark
    input (fp32, eval)."""
    size = (args.frames, args.size, args.size)
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        ref = build('torchvision', args.weights, size).eval()(x)
        ours = build('mvitx', args.weights, size).eval()(x)
    return (ref - ours).abs().max().item()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='cpu or cuda (default: cuda when available)')
    parser.add_argument('--frames', type=int, default=16)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument(
        '--threads', type=int, default=0, help='CPU threads (0: default)')
    parser.add_argument(
        '--profile',
        type=int,
        default=0,
        metavar='N',
        help='also print, per implementation and mode, the N operators '
        'with the most self time in one step (torch.profiler)')
    parser.add_argument(
        '--with-cp',
        action='store_true',
        help='gradient checkpointing in mvitx')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='run both models through torch.compile (inductor); the '
        'warm-up steps compile')
    args = parser.parse_args(argv)
    if args.compile and args.warmup < 1:
        parser.error('--compile needs --warmup >= 1 (the first step '
                     'compiles and is not timed)')
    return args


def format_table(rows, logit_diff, args) -> str:
    by_key = {(r['impl'], r['mode']): r for r in rows}
    lines = [
        f'device={args.device} input={args.batch}x3x{args.frames}x'
        f'{args.size}x{args.size} iters={args.iters} '
        f'(bf16 autocast: {args.device.startswith("cuda")}, '
        f'torch.compile: {args.compile}); '
        f'max |logit diff| fp32 = {logit_diff:.2e}',
        '| mode | torchvision clips/s | mvitx clips/s | speed-up | '
        'torchvision peak MiB | mvitx peak MiB | memory ratio |',
        '|---|---|---|---|---|---|---|',
    ]
    for mode in MODES:
        tv, ours = by_key[('torchvision', mode)], by_key[('mvitx', mode)]
        label = f'{mode} (compiled)' if args.compile else mode
        lines.append(f'| {label} | {tv["clips_per_s"]:.3g} | '
                     f'{ours["clips_per_s"]:.3g} | '
                     f'{ours["clips_per_s"] / tv["clips_per_s"]:.2f}x | '
                     f'{tv["peak_mb"]:.0f} | {ours["peak_mb"]:.0f} | '
                     f'{ours["peak_mb"] / tv["peak_mb"]:.2f} |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    ctx = mp.get_context('spawn')
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        args.weights = os.path.join(tmp, 'mvit_v2_s.pth')
        save_weights(args.weights, (args.frames, args.size, args.size))
        for mode in MODES:
            with ctx.Pool(1) as pool:
                speed, profiles = pool.apply(throughput, (mode, args))
            for impl, table in profiles.items():
                print(f'{impl}, {mode}: one step\n{table}', flush=True)
            for impl in IMPLS:
                with ctx.Pool(1) as pool:
                    peak = pool.apply(peak_memory, (impl, mode, args))
                rows.append(
                    dict(
                        impl=impl,
                        mode=mode,
                        clips_per_s=speed[impl],
                        peak_mb=peak))
                print(json.dumps(rows[-1]), flush=True)
        logit_diff = check_same_logits(args)
    print(format_table(rows, logit_diff, args))


if __name__ == '__main__':
    main()
