"""Spatio-temporal action detection on a video, written as an mp4 with the
actor boxes and their top-k actions drawn.

    python tools/demo/ava_demo.py VIDEO CONFIG CHECKPOINT \
        --out OUT.mp4 [--proposals PROPOSALS.pkl | \
        --det-config DET_CONFIG --det-checkpoint DET_CHECKPOINT]

Person boxes come either from an AVA-style proposals pickle
(``"{video stem},%04d" -> (N, 5)`` normalised boxes and scores, keyed by
the keyframe's second; read without running code and checked as
``AVADataset`` does) or from an mmdet detector (its ``person`` class, as
in COCO models; ``--det-config`` a file or a config shipped with mmdet).
One keyframe is scored every ``--keyframe-interval`` seconds with the
config's test pipeline (its ``LoadAVAClip`` reads the clip around the
keyframe from VIDEO); every frame shows the detections of its nearest
keyframe. The work is done by :func:`mvitx.apis.inference_detector`.
"""
import argparse
from typing import Dict, List, Optional

import cv2
import numpy as np
from mmengine.config import DictAction

from mvitx.apis import (ActorActions, inference_detector, init_mmdet_detector,
                        init_model)
from mvitx.utils import load_config

COLORS = ((255, 64, 64), (64, 200, 64), (64, 128, 255), (255, 200, 0),
          (200, 64, 255), (0, 220, 220))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('video')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='output .mp4')
    parser.add_argument('--proposals', help='AVA-style proposals pickle')
    parser.add_argument(
        '--det-config',
        help='mmdet person detector config: a file or one shipped with mmdet')
    parser.add_argument('--det-checkpoint', help='mmdet checkpoint')
    parser.add_argument(
        '--det-score-thr', type=float, default=0.9, help='person score')
    parser.add_argument(
        '--action-score-thr', type=float, default=0.4, help='action score')
    parser.add_argument('--topk', type=int, default=3)
    parser.add_argument(
        '--keyframe-interval',
        type=float,
        default=1.,
        help='seconds between scored keyframes')
    parser.add_argument(
        '--label-file', help='action list .pbtxt (default: the config\'s)')
    parser.add_argument(
        '--out-scale',
        type=float,
        default=1.,
        help='resize factor of the written video (labels need ~400 px)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default={})
    args = parser.parse_args(argv)
    if bool(args.proposals) == bool(args.det_config):
        parser.error('give either --proposals or --det-config '
                     '(with --det-checkpoint)')
    return args


def draw(frame: np.ndarray, actors: List[ActorActions], thr: float) -> None:
    """Draws the actors' normalised boxes and their actions scoring at
    least ``thr`` on a BGR frame."""
    h, w = frame.shape[:2]
    scale = max(min(h, w) / 480., 0.6)
    for i, actor in enumerate(actors):
        color = COLORS[i % len(COLORS)]
        x1, y1, x2, y2 = (actor.box *
                          np.array([w, h, w, h])).round().astype(int)
        cv2.rectangle(frame, (x1, y1), (x2, y2), color, 1)
        lines = [
            f'{name} {score:.2f}'
            for name, score in zip(actor.names, actor.scores) if score >= thr
        ]
        for k, text in enumerate(lines):
            y = y1 + int((k + 1) * 16 * scale)
            cv2.putText(frame, text, (x1 + 2, y), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45 * scale, color, 1, cv2.LINE_AA)


def read_frames(video: str) -> tuple:
    """All BGR frames of a video and its frame rate."""
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise RuntimeError(f'cannot read frames from {video}')
    return frames, fps


def main(argv=None) -> str:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    model = init_model(cfg, args.checkpoint, device=args.device)
    persons = args.proposals or init_mmdet_detector(
        args.det_config, args.det_checkpoint, device=args.device)
    keyframes = inference_detector(
        model,
        args.video,
        persons,
        keyframe_interval=args.keyframe_interval,
        det_score_thr=args.det_score_thr,
        topk=args.topk,
        label_file=args.label_file)
    preds: Dict[int, List[ActorActions]] = {
        k.frame_index: k.actors
        for k in keyframes
    }
    frames, fps = read_frames(args.video)
    h, w = frames[0].shape[:2]
    h, w = int(round(h * args.out_scale)), int(round(w * args.out_scale))
    writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (w, h))
    if not writer.isOpened():
        raise RuntimeError(f'cannot write {args.out}')
    for index, frame in enumerate(frames):
        frame = cv2.resize(frame, (w, h))
        nearest: Optional[int] = min(
            preds, key=lambda k: abs(k - index), default=None)
        if nearest is not None:
            draw(frame, preds[nearest], args.action_score_thr)
        writer.write(frame)
    writer.release()
    scored = sum(bool(k.actors) for k in keyframes)
    print(f'{scored} keyframes scored, video written to {args.out}')
    return args.out


if __name__ == '__main__':
    main()
