"""Clips per second of the video training pipeline in one worker: mvitx
against mmaction2 1.2.0's decord pipeline, on the same files and settings
(16 frames x interval 4, random resized crop to 224 x 224, flip, packing).

Besides wall time the table reports CPU time of all threads of the
process, the cost that limits a loader whose workers fill the cores (decord
runs a decoding thread beside the caller, so its CPU time exceeds its wall
time). The script writes its own 340 x 256 mp4 files (``mp4v``, as Kinetics
re-encodes are commonly stored at short side 256), then runs each pipeline
over the same sequence of (video, random seed) and prints a table::

    python tools/analysis/benchmark_data.py --num-videos 8 --clips 64

mmaction2 is a benchmark-only dependency (``pip install mmaction2==1.2.0
--no-deps``); its transforms are imported module by module because its
``mmaction.models`` package does not import without its full dependencies.
"""
import argparse
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

import cv2
import numpy as np
from mmcv.transforms import Compose

from mvitx.utils import register_all_modules


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--num-videos', type=int, default=8, help='videos written')
    parser.add_argument(
        '--num-frames',
        type=int,
        default=300,
        help='frames per video (Kinetics: 10 s at 30 fps = 300)')
    parser.add_argument(
        '--clips', type=int, default=64, help='clips timed per pipeline')
    parser.add_argument(
        '--repeats', type=int, default=5, help='timed rounds; best counts')
    parser.add_argument(
        '--work-dir', help='where to write the videos (default: temp dir)')
    return parser.parse_args(argv)


def write_videos(folder: str, num_videos: int, num_frames: int) -> List[str]:
    """Writes ``num_videos`` textured 340 x 256 mp4 files with motion."""
    rng = np.random.default_rng(0)
    paths = []
    for v in range(num_videos):
        path = f'{folder}/video_{v:03d}.mp4'
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 30,
                                 (340, 256))
        texture = rng.integers(0, 256, (512, 680, 3), dtype=np.uint8)
        texture = cv2.GaussianBlur(texture, (0, 0), 3)
        for i in range(num_frames):
            x, y = (3 * i) % 340, (2 * i) % 256
            writer.write(texture[y:y + 256, x:x + 340])
        writer.release()
        paths.append(path)
    return paths


def mvitx_pipeline(backend: str) -> Callable:
    """mvitx's training pipeline, decoding with ``'Decord'`` or ``'PyAV'``.
    """
    return Compose([
        dict(type=f'mvitx.{backend}Init'),
        dict(type='mvitx.SampleFrames', clip_len=16, frame_interval=4),
        dict(type=f'mvitx.{backend}Decode'),
        dict(type='mvitx.RandomResizedCrop'),
        dict(type='mvitx.Resize', scale=(224, 224)),
        dict(type='mvitx.Flip', flip_ratio=0.5),
        dict(type='mvitx.PackActionInputs'),
    ])


def mmaction_pipeline() -> Callable:
    from mmaction.datasets.transforms.formatting import (FormatShape,
                                                         PackActionInputs)
    from mmaction.datasets.transforms.loading import (DecordDecode, DecordInit,
                                                      SampleFrames)
    from mmaction.datasets.transforms.processing import (Flip,
                                                         RandomResizedCrop,
                                                         Resize)
    return Compose([
        DecordInit(),
        SampleFrames(clip_len=16, frame_interval=4, num_clips=1),
        DecordDecode(),
        RandomResizedCrop(),
        Resize(scale=(224, 224), keep_ratio=False),
        Flip(flip_ratio=0.5),
        FormatShape(input_format='NCTHW'),
        PackActionInputs(),
    ])


def decode_only() -> Callable:
    """Opening, sampling and decoding alone with decord: the bound of any
    pipeline that decodes with decord ``get_batch``."""
    return Compose([
        dict(type='mvitx.DecordInit'),
        dict(type='mvitx.SampleFrames', clip_len=16, frame_interval=4),
        dict(type='mvitx.DecordDecode'),
        lambda results: dict(inputs=results['imgs'].transpose(3, 0, 1, 2)),
    ])


def time_clips(pipeline: Callable, paths: List[str],
               clips: int) -> Tuple[float, float]:
    """Wall and CPU seconds (all threads of this process) for ``clips``
    samples, the same sequence of videos and random draws every call."""
    np.random.seed(0)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(clips):
        out = pipeline(
            dict(
                filename=paths[i % len(paths)],
                label=0,
                start_index=0,
                modality='RGB'))
        assert out['inputs'].shape[-3] == 16  # 16 frames per clip
    return time.perf_counter() - wall, time.process_time() - cpu


def benchmark(pipelines: Dict[str, Callable], paths: List[str], clips: int,
              repeats: int) -> Dict[str, Tuple[float, float]]:
    """Best-of-``repeats`` (wall, CPU) clips/s per pipeline; the rounds
    interleave the pipelines so that load from other processes hits all of
    them alike."""
    for pipeline in pipelines.values():
        time_clips(pipeline, paths, 2)  # warm-up
    best = {name: (0.0, 0.0) for name in pipelines}
    for _ in range(repeats):
        for name, pipeline in pipelines.items():
            wall, cpu = time_clips(pipeline, paths, clips)
            best[name] = (max(best[name][0],
                              clips / wall), max(best[name][1], clips / cpu))
    return best


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    # One worker: the decoders and OpenCV get one thread each, as in a
    # DataLoader worker of a many-worker training job.
    cv2.setNumThreads(1)
    register_all_modules()
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_videos(args.work_dir or tmp, args.num_videos,
                             args.num_frames)
        rates = benchmark(
            {
                'mmaction2 1.2.0': mmaction_pipeline(),
                'mvitx, decord': mvitx_pipeline('Decord'),
                'mvitx, PyAV': mvitx_pipeline('PyAV'),
                'decord decode only': decode_only(),
            }, paths, args.clips, args.repeats)
    base_wall, base_cpu = rates['mmaction2 1.2.0']
    print(f'{args.num_videos} videos 340x256 x {args.num_frames} frames, '
          f'{args.clips} clips of 16x4 -> 224x224, 1 worker, best of '
          f'{args.repeats}')
    print('| pipeline | clips/s (CPU time) | ms CPU/clip | speed-up (CPU) '
          '| clips/s (wall) | speed-up (wall) |')
    print('|---|---|---|---|---|---|')
    for name, (wall, cpu) in rates.items():
        print(
            f'| {name} | {cpu:.1f} | {1000 / cpu:.1f} | '
            f'{cpu / base_cpu:.2f}x | {wall:.1f} | {wall / base_wall:.2f}x |')
    return rates


if __name__ == '__main__':
    main()
