"""Draws a video's structured priors (boxes by type, object classes and
links, keypoints) over its frames: an image grid of a few sampled frames and
an mp4 of every stored frame, to check priors by eye before spending
GPU-days on them.

Example::

    python tools/visualize_priors.py data/kinetics400/videos_val/x.mp4 \\
        data/kinetics400/priors/x.npz --out-dir work_dirs/prior_vis
"""
import argparse
import os
import os.path as osp
import sys
from typing import Optional, Sequence

import cv2
import numpy as np

from mvitx.datasets.prior_store import align_priors, load_priors, prior_meta
from mvitx.visualization import draw_priors, make_grid


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('video', help='video file')
    parser.add_argument('prior_file', help='its prior file (.npz)')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument(
        '--num-frames', type=int, default=8, help='frames in the grid')
    parser.add_argument('--cols', type=int, default=4, help='grid columns')
    parser.add_argument(
        '--max-video-frames',
        type=int,
        default=300,
        help='the mp4 shows at most this many stored frames')
    parser.add_argument(
        '--min-size',
        type=int,
        default=256,
        help='frames are upscaled to at least this short side')
    parser.add_argument('--kpt-thr', type=float, default=0.3)
    parser.add_argument(
        '--fps', type=float, default=4., help='frame rate of the mp4')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    import decord
    args = parse_args(argv)
    priors = load_priors(args.prior_file)
    stored = priors['frame_inds']
    reader = decord.VideoReader(args.video, num_threads=1)
    stored = stored[stored < len(reader)]
    if len(stored) == 0:
        print(
            f'{args.prior_file} has no frames of {args.video}',
            file=sys.stderr)
        return 1
    pick = np.linspace(0,
                       len(stored) - 1, min(args.num_frames,
                                            len(stored))).round()
    grid_inds = stored[np.unique(pick.astype(int))]
    video_inds = stored[:args.max_video_frames]
    pairs = priors['keypoint_flip_pairs'].tolist()
    # files written by tools/data/extract_priors.py name the detector's
    # classes, which box_classes index
    class_names = prior_meta(priors).get('det_classes')
    stem = osp.splitext(osp.basename(args.video))[0]
    os.makedirs(args.out_dir, exist_ok=True)

    def render(frame_inds):
        frames = reader.get_batch(frame_inds.tolist()).asnumpy()
        height, width = frames.shape[1:3]
        aligned = align_priors(priors, frame_inds, 0, (height, width))
        scale = max(1., args.min_size / min(height, width))
        return [
            draw_priors(frame, aligned, i, pairs, args.kpt_thr, scale,
                        class_names) for i, frame in enumerate(frames)
        ]

    grid = make_grid(render(grid_inds), args.cols)
    grid_path = osp.join(args.out_dir, f'{stem}_priors.png')
    cv2.imwrite(grid_path, grid[..., ::-1])
    video_path = osp.join(args.out_dir, f'{stem}_priors.mp4')
    writer = None
    for start in range(0, len(video_inds), 32):
        for image in render(video_inds[start:start + 32]):
            if writer is None:
                writer = cv2.VideoWriter(video_path,
                                         cv2.VideoWriter_fourcc(*'mp4v'),
                                         args.fps, image.shape[1::-1])
            writer.write(np.ascontiguousarray(image[..., ::-1]))
    writer.release()
    print(f'wrote {grid_path} ({len(grid_inds)} frames) and {video_path} '
          f'({len(video_inds)} frames)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
