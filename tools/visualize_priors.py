"""Draws a video's structured priors (boxes by type, keypoints) over its
frames: an image grid of a few sampled frames and an mp4 of every stored
frame, to check priors by eye before spending GPU-days on them.

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

from mvitx.datasets.prior_store import (BOX_TYPES, PAD_TYPE, align_priors,
                                        load_priors)

#: RGB colour of each box type.
TYPE_COLORS = {
    BOX_TYPES['person']: (60, 220, 60),
    BOX_TYPES['hand']: (255, 210, 0),
    BOX_TYPES['face']: (255, 60, 255),
    BOX_TYPES['object']: (0, 220, 255),
}
TYPE_NAMES = {v: k for k, v in BOX_TYPES.items()}
#: Keypoint colours: left of a flip pair, right of a flip pair, others.
LEFT_COLOR, RIGHT_COLOR, CENTRE_COLOR = (255, 80, 80), (80, 140,
                                                        255), (255, 255, 255)


def draw_frame(frame: np.ndarray, priors: dict, index: int,
               flip_pairs: Sequence[Sequence[int]], kpt_thr: float,
               scale: float) -> np.ndarray:
    """Draws frame ``index`` of aligned priors on an RGB ``frame``.

    Args:
        frame (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        priors (dict): Output of
            :func:`~mvitx.datasets.prior_store.align_priors` for ``frame``'s
            clip.
        index (int): Row of ``priors`` that belongs to ``frame``.
        flip_pairs (Sequence[Sequence[int]]): Left/right keypoint pairs
            (left ids in red, right in blue).
        kpt_thr (float): Keypoints below this score are not drawn.
        scale (float): Upscaling before drawing, so small frames stay
            legible.

    Returns:
        np.ndarray: ``(H * scale, W * scale, 3)`` uint8 RGB.
    """
    height, width = frame.shape[:2]
    size = (int(round(width * scale)), int(round(height * scale)))
    canvas = np.ascontiguousarray(
        cv2.resize(frame, size, interpolation=cv2.INTER_NEAREST))
    thick = max(1, int(round(scale / 2)))
    for box, type_id, score in zip(priors['boxes'][index],
                                   priors['box_types'][index],
                                   priors['box_scores'][index]):
        if type_id == PAD_TYPE:
            continue
        color = TYPE_COLORS[int(type_id)]
        x1, y1, x2, y2 = (box * scale).round().astype(int)
        cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), color, thick)
        cv2.putText(canvas, f'{TYPE_NAMES[int(type_id)]} {score:.2f}',
                    (x1 + 2, max(y1 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    color, 1, cv2.LINE_AA)
    side = {i: LEFT_COLOR for i, _ in flip_pairs}
    side.update({j: RIGHT_COLOR for _, j in flip_pairs})
    for person in priors['keypoints'][index]:
        for k, (x, y, score) in enumerate(person):
            if score < kpt_thr or score <= 0:
                continue
            cv2.circle(canvas, (int(round(x * scale)), int(round(y * scale))),
                       thick + 1, side.get(k, CENTRE_COLOR), -1, cv2.LINE_AA)
    if priors['source_frame'][index] < 0:
        cv2.putText(canvas, 'no priors', (4, size[1] - 6),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 0, 0), 1, cv2.LINE_AA)
    return canvas


def make_grid(images: Sequence[np.ndarray], cols: int) -> np.ndarray:
    """Tiles equally sized images row by row (2-pixel black gutters)."""
    h, w = images[0].shape[:2]
    cols = min(cols, len(images))
    rows = -(-len(images) // cols)
    grid = np.zeros((rows * (h + 2) - 2, cols * (w + 2) - 2, 3), np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (h + 2):r * (h + 2) + h, c * (w + 2):c * (w + 2) + w] = image
    return grid


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
    stem = osp.splitext(osp.basename(args.video))[0]
    os.makedirs(args.out_dir, exist_ok=True)

    def render(frame_inds):
        frames = reader.get_batch(frame_inds.tolist()).asnumpy()
        height, width = frames.shape[1:3]
        aligned = align_priors(priors, frame_inds, 0, (height, width))
        scale = max(1., args.min_size / min(height, width))
        return [
            draw_frame(frame, aligned, i, pairs, args.kpt_thr, scale)
            for i, frame in enumerate(frames)
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
