"""Clips per second of the video training pipeline in one worker: mvitx's
decoding back-ends against mmaction2 1.2.0's decord pipeline, on the same
files and settings (16 frames x interval 4, random resized crop to
224 x 224, flip, packing).

The script writes its own 10 s, 30 fps videos: H.264 like the Kinetics
re-encodes (libx264, 3 B-frames, a fixed key frame interval, 340 x 256 or
short side 320, x264's default preset and veryfast) and the MPEG-4 part 2
(``mp4v``) files OpenCV writes. One worker is emulated as in a DataLoader: one
decoder thread, one OpenCV thread, one torch thread. Each round times every
pipeline on every input in turn (interleaved, so that load from other
processes hits all of them alike), over the same sequence of videos and
random draws; the table gives the median over the rounds of clips/s in CPU
time (all threads of the process) and in wall time, the range over the
rounds, and the median of each round's ratio to mmaction2. Each input is
described first, with its reference frames: a frame-accurate decoder must
decode all of them from the key frame before a clip to its end, so the CPU
time of decoding only them bounds what skipping the others can gain. A last
row per input runs the configs' pipeline with repeated augmentation
(``--repeat-aug K``: one decode, K augmented clips, each counted), a
data-loading speed rather than the decoder's::

    python tools/analysis/benchmark_data.py --num-videos 8 --clips 32 \\
        --rounds 5

mmaction2 is a benchmark-only dependency (``pip install mmaction2==1.2.0
--no-deps``); its transforms are imported module by module because its
``mmaction.models`` package does not import without its full dependencies.
"""
import argparse
import os
import tempfile
import time
from fractions import Fraction
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import av
import cv2
import numpy as np
import torch
from av.video.frame import PictureType
from mmcv.transforms import Compose

from mvitx.datasets.cotrain_dataset import RepeatAugPipeline
from mvitx.utils import register_all_modules

#: name: (codec, (width, height), key frame interval, x264 preset). x264's
#: default preset (medium) is what ``ffmpeg -c:v libx264`` re-encodes with;
#: veryfast makes bigger non-reference B-frames. OpenCV's mp4v has no
#: B-frames and a key frame every 12 frames.
INPUTS = {
    'h264 340x256 gop250': ('libx264', (340, 256), 250, 'medium'),
    'h264 340x256 gop48': ('libx264', (340, 256), 48, 'medium'),
    'h264 568x320 gop250': ('libx264', (568, 320), 250, 'medium'),
    'h264 340x256 gop250 veryfast': ('libx264', (340, 256), 250, 'veryfast'),
    'mp4v 340x256': ('mp4v', (340, 256), None, None),
}
#: mvitx back-ends: table name -> transform name prefix.
BACKENDS = {
    'mvitx, decord': 'Decord',
    'mvitx, PyAV': 'PyAV',
    'mvitx, torchcodec': 'TorchCodec',
}
REFERENCE = 'mmaction2 1.2.0 (decord)'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--num-videos', type=int, default=8, help='videos per input')
    parser.add_argument(
        '--num-frames',
        type=int,
        default=300,
        help='frames per video (Kinetics: 10 s at 30 fps = 300)')
    parser.add_argument(
        '--clips',
        type=int,
        default=32,
        help='clips timed per pipeline, input and round')
    parser.add_argument(
        '--rounds', type=int, default=5, help='interleaved timed rounds')
    parser.add_argument(
        '--inputs',
        nargs='+',
        default=list(INPUTS),
        choices=list(INPUTS),
        metavar='INPUT',
        help=f'inputs to time, of: {", ".join(map(repr, INPUTS))}')
    parser.add_argument(
        '--repeat-aug',
        type=int,
        default=2,
        metavar='K',
        help='clips per decode in the repeated-augmentation row (PyAV, '
        'the configs\' back-end); 1 leaves the row out')
    parser.add_argument(
        '--work-dir', help='where to write the videos (default: temp dir)')
    return parser.parse_args(argv)


def _frames(size: Tuple[int, int], num_frames: int,
            seed: int) -> Iterator[np.ndarray]:
    """BGR frames of a detailed texture panning right and down, never
    wrapping around (a wrap would be a scene cut)."""
    w, h = size
    rng = np.random.default_rng(seed)
    noise = rng.integers(
        0, 256, (h + num_frames, w + num_frames, 3), dtype=np.uint8)
    texture = cv2.GaussianBlur(noise, (0, 0), 1)
    for i in range(num_frames):
        y = 2 * i // 3
        yield texture[y:y + h, i:i + w]


def write_video(path: str,
                codec: str,
                size: Tuple[int, int],
                gop: Optional[int],
                preset: Optional[str],
                num_frames: int,
                seed: int = 0) -> None:
    """Writes a 30 fps video of a panning texture: H.264 (``'libx264'``
    with ``preset``, 3 B-frames, a key frame every ``gop`` frames and no
    others) or OpenCV's ``'mp4v'`` (``gop`` and ``preset`` unused)."""
    frames = _frames(size, num_frames, seed)
    if codec == 'mp4v':
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 30,
                                 size)
        for frame in frames:
            writer.write(frame)
        writer.release()
        return
    params = f'keyint={gop}:min-keyint={gop}:scenecut=0'
    with av.open(path, 'w') as container:
        stream = container.add_stream(
            codec,
            rate=Fraction(30),
            options={
                'bf': '3',
                'preset': preset,
                'x264-params': params
            })
        stream.width, stream.height = size
        stream.pix_fmt = 'yuv420p'
        for frame in frames:
            container.mux(
                stream.encode(av.VideoFrame.from_ndarray(frame, 'bgr24')))
        container.mux(stream.encode())


def _decode_all(path: str, skip_frame: str) -> Tuple[list, float]:
    """Every frame the decoder outputs with ``skip_frame`` (one thread) and
    the CPU seconds that took."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = 'NONE'
        stream.codec_context.skip_frame = skip_frame
        cpu = time.process_time()
        frames = list(container.decode(stream))
        return frames, time.process_time() - cpu


def describe_video(path: str) -> Dict[str, object]:
    """What the benchmark claims its inputs are (size, kinds of frames, key
    frame positions), and the bound of frame-accurate decoding on them: the
    reference frames, which must be decoded to get any later frame right,
    and the CPU time of decoding only them over that of decoding every
    frame (median over 7 pairs of tries, each pair back to back)."""
    frames = _decode_all(path, 'DEFAULT')[0]
    ratios = []
    for _ in range(7):
        all_cpu = _decode_all(path, 'DEFAULT')[1]
        refs, ref_cpu = _decode_all(path, 'NONREF')
        ratios.append(ref_cpu / all_cpu)
    return dict(
        kib=os.path.getsize(path) / 1024,
        frames=len(frames),
        b_frames=sum(PictureType(f.pict_type).name == 'B' for f in frames),
        key_frames=[i for i, f in enumerate(frames) if f.key_frame],
        ref_frames=len(refs),
        ref_cost=float(np.median(ratios)))


def decoder_versions() -> str:
    """The decoders' versions (``decord`` may be decord2, which installs
    under the same name)."""
    import decord
    import torchcodec
    from torchcodec._core import get_ffmpeg_library_versions
    system_ffmpeg = get_ffmpeg_library_versions()['ffmpeg_version']
    return (f'decord {decord.__version__}, PyAV {av.__version__} (FFmpeg '
            f'{av.ffmpeg_version_info}), torchcodec {torchcodec.__version__} '
            f'(FFmpeg {system_ffmpeg})')


def mvitx_pipeline(backend: str,
                   clip_len: int = 16,
                   size: int = 224) -> Callable:
    """mvitx's training pipeline, decoding with ``backend`` (``'Decord'``,
    ``'PyAV'`` or ``'TorchCodec'``) ``clip_len`` frames at interval 4,
    cropped to ``size`` x ``size``."""
    return Compose([
        dict(type=f'mvitx.{backend}Init'),
        dict(type='mvitx.SampleFrames', clip_len=clip_len, frame_interval=4),
        dict(type=f'mvitx.{backend}Decode'),
        dict(type='mvitx.RandomResizedCrop'),
        dict(type='mvitx.Resize', scale=(size, size)),
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


def time_clips(pipeline: Callable, paths: List[str],
               clips: int) -> Tuple[float, float]:
    """Clips/s in wall and CPU time (all threads of this process) over
    ``clips`` clips, the same sequence of videos and random draws every
    call. A pipeline returns one packed clip, or a list of them (repeated
    augmentation: several clips per decode, each counted)."""
    np.random.seed(0)
    wall, cpu = time.perf_counter(), time.process_time()
    done = i = 0
    while done < clips:
        out = pipeline(
            dict(
                filename=paths[i % len(paths)],
                label=0,
                start_index=0,
                modality='RGB'))
        for view in out if isinstance(out, list) else [out]:
            assert view['inputs'].shape[-3] == 16  # 16 frames per clip
            done += 1
        i += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return done / wall, done / cpu


def benchmark(pipelines: Dict[str, Callable], inputs: Dict[str, List[str]],
              clips: int, rounds: int) -> Dict[Tuple[str, str], np.ndarray]:
    """Per (input, pipeline), the clips/s ``(rounds, 2)`` (wall, CPU) of
    each round; a round times every pipeline on every input in turn."""
    for paths in inputs.values():
        for pipeline in pipelines.values():
            time_clips(pipeline, paths, 2)  # warm-up
    rates = {(i, p): [] for i in inputs for p in pipelines}
    for _ in range(rounds):
        for name, paths in inputs.items():
            for pipe, pipeline in pipelines.items():
                rates[name, pipe].append(time_clips(pipeline, paths, clips))
    return {key: np.array(value) for key, value in rates.items()}


def format_table(rates: Dict[Tuple[str, str], np.ndarray]) -> List[str]:
    """Markdown rows: medians over the rounds, their range, and the median
    of each round's ratio to the reference on the same input."""
    rows = [
        '| input | pipeline | clips/s CPU: median (range) | speed-up CPU '
        '| clips/s wall: median (range) | speed-up wall |', '|---' * 6 + '|'
    ]
    for (name, pipe), rate in rates.items():
        ref = rates[name, REFERENCE]
        cells = []
        for col in (1, 0):  # CPU, then wall
            ratio = rate[:, col] / ref[:, col]
            cells += [
                f'{np.median(rate[:, col]):.1f} '
                f'({rate[:, col].min():.1f}-{rate[:, col].max():.1f})',
                f'{np.median(ratio):.2f}x'
            ]
        rows.append(f'| {name} | {pipe} | ' + ' | '.join(cells) + ' |')
    return rows


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    # One worker of a many-worker loader: one thread each for the decoders
    # (their default here), OpenCV and torch (as DataLoader workers set).
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    register_all_modules()
    pipelines = {REFERENCE: mmaction_pipeline()}
    pipelines.update({n: mvitx_pipeline(b) for n, b in BACKENDS.items()})
    if args.repeat_aug > 1:
        # One decode, K augmented clips: what the configs' `repeat_aug`
        # does; a data-loading speed, not the decoder's.
        pipelines[f'mvitx, PyAV, {args.repeat_aug} clips per decode '
                  '(repeated aug.)'] = RepeatAugPipeline(
                      mvitx_pipeline('PyAV'), args.repeat_aug, 'PyAVDecode')
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.work_dir or tmp
        inputs = {}
        for name in args.inputs:
            inputs[name] = []
            for v in range(args.num_videos):
                path = f'{folder}/{name.replace(" ", "_")}_{v:03d}.mp4'
                write_video(path, *INPUTS[name], args.num_frames, seed=v)
                inputs[name].append(path)
            info = describe_video(inputs[name][0])
            print(f'{name}: {info["frames"]} frames, {info["b_frames"]} '
                  f'B-frames, key frames at {info["key_frames"]}, '
                  f'{info["kib"]:.0f} KiB; {info["ref_frames"]} reference '
                  f'frames, decoding them alone costs '
                  f'{info["ref_cost"]:.0%} of decoding all')
        load = os.getloadavg()[0]
        rates = benchmark(pipelines, inputs, args.clips, args.rounds)
    print(f'{args.num_videos} videos per input x {args.num_frames} frames, '
          f'{args.clips} clips of 16x4 -> 224x224 per pipeline, input and '
          f'round, {args.rounds} interleaved rounds, 1 worker; '
          f'{os.cpu_count()} CPUs, load average {load:.1f} before and '
          f'{os.getloadavg()[0]:.1f} after; {decoder_versions()}')
    print('\n'.join(format_table(rates)))
    return rates


if __name__ == '__main__':
    main()
