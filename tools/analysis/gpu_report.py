"""One table for ``docs/benchmarks.md`` from one GPU: MViTv2-S training and
inference throughput, mvitx ``MViT`` against torchvision's ``mvit_v2_s``
(same converted weights, same input), eager and ``torch.compile``'d, with
peak memory, achieved TFLOP/s and MFU, and the DataLoader's clips/s on
generated H.264 files.

- Throughput: clips/s over ``--iters`` timed steps after ``--warmup`` steps
  (which include compiling), one model at a time. Training is forward,
  cross-entropy, backward and an SGD step; inference a forward under
  ``torch.inference_mode``. On CUDA under bf16 autocast; on CPU in float32.
- Peak memory: ``torch.cuda.max_memory_allocated`` from the model's build to
  its last step (CUDA only).
- TFLOP/s: the forward FLOPs of one clip, counted as
  ``tools/analysis/get_flops.py`` counts them (2 per multiply-add, matrix
  products, convolutions and attention), x3 for a training step, times
  clips/s; the same model FLOPs for both implementations. MFU: TFLOP/s over
  the device's dense bf16 peak (:data:`PEAK_BF16_TFLOPS`, by device name;
  ``--peak-tflops`` for others; CUDA only).
- DataLoader: the configs' training pipeline (PyAV decoding, random resized
  crop, flip, packing) over H.264 videos written as
  ``tools/analysis/benchmark_data.py`` writes them, ``--workers`` workers,
  batches of ``--batch``; clips/s after the first batch.

Examples:
    python tools/analysis/gpu_report.py  # CUDA, 16x224x224, batch 8
    python tools/analysis/gpu_report.py --device cpu --frames 4 --size 32 \\
        --batch 1 --iters 1 --warmup 1 --workers 1 --compile-backend eager
"""
import argparse
import gc
import os
import tempfile
import time
from typing import List, Optional, Sequence, Tuple

import torch
from benchmark_backbone import IMPLS, MODES, Runner, build, save_weights
from benchmark_data import INPUTS, mvitx_pipeline, write_video
from get_flops import count_flops
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader, Dataset

from mvitx.utils import register_all_modules

#: Dense (no sparsity) bf16 tensor-core peak TFLOP/s from NVIDIA's data
#: sheets, matched in this order as substrings of the CUDA device name.
PEAK_BF16_TFLOPS: Tuple[Tuple[str, float], ...] = (
    ('H100 PCIe', 756.),
    ('H100 NVL', 835.),
    ('H200 NVL', 835.),
    ('H100', 989.),  # SXM
    ('H200', 989.),  # SXM
    ('B200', 2250.),
    ('A100', 312.),
    ('L40S', 362.),
    ('L40', 181.),
    ('L4', 121.),
)
#: The H.264 input of ``benchmark_data.py`` the DataLoader reads.
VIDEO_INPUT = 'h264 340x256 gop250'
NO_GPU = 'skipped (no GPU)'
COLUMNS = ('model', 'mode', 'torch.compile', 'clips/s', 'vs torchvision',
           'peak MiB', 'TFLOP/s', 'MFU')


def peak_tflops(device_name: str) -> Optional[float]:
    """The dense bf16 peak of a CUDA device by name, None when unknown."""
    for key, tflops in PEAK_BF16_TFLOPS:
        if key in device_name:
            return tflops
    return None


def forward_flops(weights: str, input_size: Tuple[int, int, int],
                  device: str) -> int:
    """FLOPs of one clip's forward through the mvitx MViTv2-S classifier."""
    model = build('mvitx', weights, input_size).to(device).eval()
    return count_flops(model, torch.zeros(1, 3, *input_size, device=device))


def time_model(impl: str, mode: str, compile: Optional[dict],
               args: argparse.Namespace) -> dict:
    """Clips/s and peak MiB (CUDA, else None) of one model: ``--warmup``
    untimed steps, then ``--iters`` timed ones."""
    cuda = args.device == 'cuda'
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    runner = Runner(
        impl,
        mode,
        args.weights,
        args.device,
        args.batch, (args.frames, args.size, args.size),
        compile=compile)
    for _ in range(args.warmup):
        runner.step()
    start = time.perf_counter()
    for _ in range(args.iters):
        runner.step()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    del runner
    # Frees the compiled graphs, which hold the model's weights.
    torch._dynamo.reset()
    gc.collect()
    return dict(clips_per_s=args.batch * args.iters / seconds, peak_mb=peak)


def achieved_tflops(clips_per_s: float, flops: int, mode: str) -> float:
    """TFLOP/s of ``mode`` at ``clips_per_s``, ``flops`` being one clip's
    forward: a training step counts three forwards (the backward two)."""
    return clips_per_s * flops * (3 if mode == 'train' else 1) / 1e12


def model_rows(flops: int, args: argparse.Namespace) -> List[dict]:
    """One row per mode, compilation and implementation; ``flops``: those of
    one clip's forward."""
    rows = []
    for mode in args.modes:
        for compiled in (False, True):
            compile = dict(backend=args.compile_backend) if compiled else None
            for impl in IMPLS:
                result = time_model(impl, mode, compile, args)
                tflops = achieved_tflops(result['clips_per_s'], flops, mode)
                rows.append(
                    dict(
                        model=impl,
                        mode=mode,
                        compiled=compiled,
                        tflops=tflops,
                        **result))
                print(rows[-1], flush=True)
    return rows


class ClipDataset(Dataset):
    """``length`` clips of the training pipeline, cycling through
    ``paths``."""

    def __init__(self, paths: Sequence[str], pipeline, length: int):
        self.paths = list(paths)
        self.pipeline = pipeline
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return self.pipeline(
            dict(
                filename=self.paths[index % len(self.paths)],
                label=0,
                start_index=0,
                modality='RGB'))


def loader_clips_per_s(folder: str, args: argparse.Namespace) -> float:
    """Clips/s of a DataLoader with ``--workers`` workers over
    ``--videos`` generated H.264 videos; the first batch (worker start-up)
    is not timed."""
    paths = []
    for i in range(args.videos):
        path = os.path.join(folder, f'video_{i:03d}.mp4')
        write_video(path, *INPUTS[VIDEO_INPUT], args.video_frames, seed=i)
        paths.append(path)
    pipeline = mvitx_pipeline('PyAV', clip_len=args.frames, size=args.size)
    num_batches = args.data_batches + 1
    loader = DataLoader(
        ClipDataset(paths, pipeline, num_batches * args.batch),
        batch_size=args.batch,
        num_workers=args.workers,
        collate_fn=pseudo_collate)
    batches = iter(loader)
    next(batches)
    start = time.perf_counter()
    clips = sum(len(batch['inputs']) for batch in batches)
    return clips / (time.perf_counter() - start)


def _cell(value: Optional[float], fmt: str) -> str:
    return NO_GPU if value is None else format(value, fmt)


def format_table(rows: List[dict], loader_rate: float, peak: Optional[float],
                 args: argparse.Namespace) -> str:
    """The markdown table: one row per model measurement, then the
    DataLoader's."""
    clips = {
        (r['model'], r['mode'], r['compiled']): r['clips_per_s']
        for r in rows
    }
    lines = [
        '| ' + ' | '.join(COLUMNS) + ' |',
        '|' + '---|' * len(COLUMNS),
    ]
    for row in rows:
        ref = clips['torchvision', row['mode'], row['compiled']]
        if args.device != 'cuda':
            mfu = NO_GPU
        elif peak is None:
            mfu = 'n/a'
        else:
            mfu = f'{row["tflops"] / peak:.1%}'
        cells = [
            row['model'], row['mode'],
            args.compile_backend if row['compiled'] else 'no',
            f'{row["clips_per_s"]:.2f}', f'{row["clips_per_s"] / ref:.2f}x',
            _cell(row['peak_mb'], '.0f'), f'{row["tflops"]:.3g}', mfu
        ]
        lines.append('| ' + ' | '.join(cells) + ' |')
    data = [
        f'DataLoader, {args.workers} workers', 'data', 'no',
        f'{loader_rate:.2f}', '-', '-', '-', '-'
    ]
    lines.append('| ' + ' | '.join(data) + ' |')
    return '\n'.join(lines)


def describe(args: argparse.Namespace, flops: int,
             peak: Optional[float]) -> str:
    """The line above the table: device, input, precision, peak."""
    if args.device == 'cuda':
        name = torch.cuda.get_device_name()
        precision = 'bf16 autocast'
        peak_note = ('peak bf16 dense: n/a (unknown device)'
                     if peak is None else f'peak bf16 dense: {peak:g} TFLOP/s')
    else:
        name = f'CPU ({os.cpu_count()} cores)'
        precision = f'float32 (bf16 autocast {NO_GPU})'
        peak_note = f'MFU {NO_GPU}'
    return (f'{name}, torch {torch.__version__}: MViTv2-S, input '
            f'{args.batch}x3x{args.frames}x{args.size}x{args.size}, '
            f'{precision}, {args.warmup} warm-up + {args.iters} timed steps; '
            f'{flops / 1e9:.2f} GFLOPs per clip forward; {peak_note}; '
            f'DataLoader: {args.videos} '
            f'{VIDEO_INPUT} videos of {args.video_frames} frames, '
            f'{args.data_batches} timed batches of {args.batch}')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--device',
        choices=('cuda', 'cpu'),
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='default: cuda when available')
    parser.add_argument('--frames', type=int, default=16)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument(
        '--iters', type=int, default=10, help='timed steps per model')
    parser.add_argument(
        '--warmup',
        type=int,
        default=3,
        help='untimed steps per model, compilation included (>= 1)')
    parser.add_argument(
        '--modes',
        nargs='+',
        choices=MODES,
        default=list(MODES),
        help='what to time: train steps, inference, or both')
    parser.add_argument(
        '--workers', type=int, default=8, help='DataLoader workers')
    parser.add_argument(
        '--videos', type=int, default=8, help='H.264 videos to write')
    parser.add_argument(
        '--video-frames',
        type=int,
        default=300,
        help='frames per video (10 s at 30 fps)')
    parser.add_argument(
        '--data-batches',
        type=int,
        default=32,
        help='timed DataLoader batches')
    parser.add_argument(
        '--compile-backend',
        default='inductor',
        help='torch.compile backend of the compiled rows')
    parser.add_argument(
        '--peak-tflops',
        type=float,
        help='dense bf16 peak of the GPU for MFU (default: looked up by '
        'device name)')
    args = parser.parse_args(argv)
    if args.warmup < 1:
        parser.error('--warmup must be >= 1: the first step compiles')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda, but CUDA is not available')
    return args


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    register_all_modules()
    peak = None
    if args.device == 'cuda':
        peak = args.peak_tflops or peak_tflops(torch.cuda.get_device_name())
    with tempfile.TemporaryDirectory() as tmp:
        # Before CUDA starts: the workers fork from this process.
        loader_rate = loader_clips_per_s(tmp, args)
        args.weights = os.path.join(tmp, 'mvit_v2_s.pth')
        size = (args.frames, args.size, args.size)
        save_weights(args.weights, size)
        flops = forward_flops(args.weights, size, args.device)
        rows = model_rows(flops, args)
    report = (
        describe(args, flops, peak) + '\n\n' +
        format_table(rows, loader_rate, peak, args))
    print(report)
    return report


if __name__ == '__main__':
    main()
