"""Spatio-temporal action detection on a video, written as an mp4 with the
actor boxes and their top-k actions drawn.

    python tools/demo/ava_demo.py VIDEO CONFIG CHECKPOINT \
        --out OUT.mp4 [--proposals PROPOSALS.pkl | \
        --det-config DET_CONFIG --det-checkpoint DET_CHECKPOINT]

Person boxes come either from an AVA-style proposals pickle
(``"{video stem},%04d" -> (N, 5)`` normalised boxes and scores, keyed by
the keyframe's second; read without running code and checked as
``AVADataset`` does) or from an mmdet detector (class 0 = person, as in
COCO models). One keyframe is scored every ``--keyframe-interval`` seconds
with the config's test pipeline (its ``LoadAVAClip`` reads the clip around
the keyframe from VIDEO); every frame shows the detections of its nearest
keyframe.
"""
import argparse
import os.path as osp
from typing import Dict, List, Optional

import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import Compose
from mmengine.runner import load_checkpoint

from mvitx.datasets.ava_files import (make_image_key, read_labelmap,
                                      read_proposals)
from mvitx.registry import MODELS
from mvitx.utils import register_all_modules

COLORS = ((255, 64, 64), (64, 200, 64), (64, 128, 255), (255, 200, 0),
          (200, 64, 255), (0, 220, 220))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('video')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='output .mp4')
    parser.add_argument('--proposals', help='AVA-style proposals pickle')
    parser.add_argument('--det-config', help='mmdet person detector config')
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


class PersonDetector:
    """An mmdet model keeping class-0 (person) boxes, normalised."""

    def __init__(self, config: str, checkpoint: str, device: str,
                 score_thr: float):
        try:
            from mmdet.apis import inference_detector, init_detector
        except ImportError as err:
            raise ImportError('--det-config needs mmdet: pip install '
                              '"mmdet>=3.0"') from err
        self.model = init_detector(config, checkpoint, device=device)
        self.infer = inference_detector
        self.score_thr = score_thr

    def __call__(self, frame_bgr: np.ndarray) -> np.ndarray:
        pred = self.infer(self.model, frame_bgr).pred_instances
        keep = (pred.labels == 0) & (pred.scores >= self.score_thr)
        boxes = pred.bboxes[keep].cpu().numpy()
        h, w = frame_bgr.shape[:2]
        boxes = boxes / np.array([w, h, w, h], np.float32)
        return np.concatenate(
            [boxes, pred.scores[keep].cpu().numpy()[:, None]], 1)


def label_names(path: str) -> Dict[int, str]:
    categories, _ = read_labelmap(path)
    return {c['id']: c['name'] for c in categories}


def predict_keyframes(model, pipeline: Compose, video: str, fps: float,
                      keyframes: List[int], boxes_of) -> Dict[int, tuple]:
    """``{keyframe: (boxes (n, 4) normalised, scores (n, C))}``."""
    out = {}
    for key in keyframes:
        props = boxes_of(key)
        if len(props) == 0:
            continue
        results = dict(
            backend='video',
            filename=video,
            video_id=osp.splitext(osp.basename(video))[0],
            timestamp=int(round(key / fps)),
            keyframe_ind=key,
            gt_bboxes_norm=np.zeros((0, 4), np.float32),
            proposals_norm=props[:, :4].astype(np.float32),
            proposal_scores=props[:, 4].astype(np.float32))
        data = pipeline(results)
        with torch.no_grad():
            sample = model.test_step(
                dict(
                    inputs=[data['inputs']],
                    data_samples=[data['data_samples']]))[0]
        h, w = sample.metainfo['img_shape']
        boxes = sample.pred_instances.bboxes.cpu().numpy() / np.array(
            [w, h, w, h], np.float32)
        out[key] = (boxes, sample.pred_instances.scores.cpu().numpy())
    return out


def draw(frame: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
         names: Dict[int, str], topk: int, thr: float) -> None:
    """Draws normalised boxes and their top-k actions on a BGR frame."""
    h, w = frame.shape[:2]
    scale = max(min(h, w) / 480., 0.6)
    for i, (box, score) in enumerate(zip(boxes, scores)):
        color = COLORS[i % len(COLORS)]
        x1, y1, x2, y2 = (box * np.array([w, h, w, h])).round().astype(int)
        cv2.rectangle(frame, (x1, y1), (x2, y2), color, 1)
        order = np.argsort(-score)[:topk]
        lines = [
            f'{names.get(j + 1, str(j + 1))} {score[j]:.2f}' for j in order
            if score[j] >= thr
        ]
        for k, text in enumerate(lines):
            y = y1 + int((k + 1) * 16 * scale)
            cv2.putText(frame, text, (x1 + 2, y), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45 * scale, color, 1, cv2.LINE_AA)


def main(argv=None) -> str:
    args = parse_args(argv)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.to(args.device).eval()
    dataset_cfg = cfg.test_dataloader.dataset
    pipeline = Compose(dataset_cfg.pipeline)
    label_file = args.label_file or osp.join(
        dataset_cfg.get('data_root', ''), dataset_cfg.label_file)
    names = label_names(label_file)

    cap = cv2.VideoCapture(args.video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise RuntimeError(f'cannot read frames from {args.video}')
    step = max(int(round(args.keyframe_interval * fps)), 1)
    keyframes = list(range(0, len(frames), step))

    if args.proposals:
        proposals = read_proposals(args.proposals)
        stem = osp.splitext(osp.basename(args.video))[0]
        no_proposal = np.zeros((0, 5), np.float32)

        def boxes_of(key: int) -> np.ndarray:
            props = proposals.get(
                make_image_key(stem, round(key / fps)), no_proposal)
            return props[props[:, 4] >= args.det_score_thr]
    else:
        detector = PersonDetector(args.det_config, args.det_checkpoint,
                                  args.device, args.det_score_thr)

        def boxes_of(key: int) -> np.ndarray:
            return detector(frames[key])

    preds = predict_keyframes(model, pipeline, args.video, fps, keyframes,
                              boxes_of)
    h, w = frames[0].shape[:2]
    h, w = int(round(h * args.out_scale)), int(round(w * args.out_scale))
    writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             (w, h))
    if not writer.isOpened():
        raise RuntimeError(f'cannot write {args.out}')
    for index, frame in enumerate(frames):
        frame = cv2.resize(frame, (w, h))
        nearest: Optional[int] = min(
            keyframes, key=lambda k: abs(k - index), default=None)
        if nearest in preds:
            draw(frame, *preds[nearest], names, args.topk,
                 args.action_score_thr)
        writer.write(frame)
    writer.release()
    print(f'{len(preds)} keyframes scored, video written to {args.out}')
    return args.out


if __name__ == '__main__':
    main()
