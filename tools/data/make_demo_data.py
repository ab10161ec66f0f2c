"""Generates the built-in demo dataset in the real ImageNet, Kinetics and
AVA formats, with exact priors: ``python tools/data/make_demo_data.py --out
data/demo``; with ``--detail``, the top-down positive-control set instead
(``--out data/detail``, ``docs/topdown.md``). The writers are in
:mod:`mvitx.datasets.demo`; see ``docs/demo_data.md`` and ``docs/ava.md``."""
import argparse
import time
from typing import Optional, Sequence

from mvitx.datasets.demo import SCALES, make_demo_data, write_detail_set
from mvitx.datasets.demo.detail import WRITERS
from mvitx.datasets.demo.kinetics import VIDEO_CLASS_SETS


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the demo dataset (ImageNet, Kinetics and AVA '
        'formats, with exact priors)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--scale',
        choices=sorted(SCALES),
        default='small',
        help='items per class (tiny: a few files, for tests; study: more '
        'videos and a held-out test split)')
    parser.add_argument('--image-size', type=int, default=64)
    parser.add_argument('--video-size', type=int, default=64)
    parser.add_argument('--num-frames', type=int, default=16)
    parser.add_argument(
        '--video-classes',
        choices=sorted(VIDEO_CLASS_SETS),
        default='demo',
        help="the Kinetics part's classes (objects: one '<shape> slides' "
        'class per image class, the co-training positive control)')
    parser.add_argument(
        '--detail',
        action='store_true',
        help='write the top-down positive-control set (the class is a '
        'glyph inside the prior box, docs/topdown.md) instead; the size '
        'options do not apply')
    parser.add_argument(
        '--detail-codec',
        choices=sorted(WRITERS),
        default='lossless',
        help="the detail set's clip encoding (mp4v: lossy, its coding "
        'errors carry the class beyond the prior box; the first tables of '
        'docs/topdown.md were measured on it)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    if args.detail:
        write_detail_set(args.out, args.seed, codec=args.detail_codec)
        what = f'detail, {args.detail_codec}'
    else:
        make_demo_data(args.out, args.seed, args.scale, args.image_size,
                       args.video_size, args.num_frames, args.video_classes)
        what = f'{args.scale}, {args.video_classes} video classes'
    print(f'[make_demo_data] wrote {args.out} ({what}, seed {args.seed}) '
          f'in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
