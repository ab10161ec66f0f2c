"""Generates a tiny AVA-format dataset:
``python tools/data/make_ava_demo_data.py --out data/ava_demo``.

Each "movie" shows a few actors (grey bodies) on a textured background.
Around every keyframe (one per second) each actor either stands or walks
(the body moves), may wave (a small white hand above the body moves up and
down), may hold an object (a small red square at the body's side), may
crouch (a shorter body) and, rarely, is on the phone (a small dark square
at the head). Actions are multi-label and two of them are small details,
so the set exercises what AVA stresses: several actors, multi-label
actions, small regions and a long tail.

Written (all in the official AVA formats, see ``docs/ava.md``)::

    OUT/videos/{video_id}.mp4            mp4v, FPS frames per second
    OUT/frames/{video_id}/img_00001.jpg  the decoded frames
    OUT/annotations/ava_{train,val}_demo.csv
    OUT/annotations/ava_val_excluded_timestamps_demo.csv
    OUT/annotations/ava_action_list_demo.pbtxt    (5 of 6 evaluated)
    OUT/annotations/ava_dense_proposals_{train,val}_demo.pkl
    OUT/priors/{video_id}.npz            every frame's person, head (face),
                                         hand and object boxes
                                         (``docs/priors.md``)

Movie time 0 is frame 0 (``timestamp_start=0``). Proposals are the actor
boxes jittered, with scores in [0.8, 1], plus low-scored false boxes.
The output is deterministic for a given ``--seed``.
"""
import argparse
import os
import os.path as osp
import pickle
from typing import List

import cv2
import numpy as np

from mvitx.datasets.prior_store import BOX_TYPES, save_priors

#: ``(id, name, evaluated)``; ``crouch`` is not evaluated, as 20 of AVA's
#: 80 classes are not.
ACTIONS = ((1, 'stand', True), (2, 'walk', True), (3, 'wave', True),
           (4, 'hold object', True), (5, 'crouch', False), (6, 'phone', True))
FPS = 10
SIZE = (96, 64)  # (W, H)
BODY_W, BODY_H, CROUCH_H = 12, 30, 20


def actor_states(rng: np.random.Generator, seconds: int) -> List[dict]:
    """Per second, one actor's actions: ``walk`` (else stand), ``wave``,
    ``hold``, ``crouch``, ``phone`` and the walking velocity."""
    states = []
    for _ in range(seconds):
        states.append(
            dict(
                walk=rng.random() < 0.5,
                wave=rng.random() < 0.35,
                hold=rng.random() < 0.35,
                crouch=rng.random() < 0.25,
                phone=rng.random() < 0.08,
                vx=float(rng.choice([-1.5, 1.5]))))
    return states


def render_movie(rng: np.random.Generator, seconds: int,
                 num_actors: int) -> tuple:
    """Frames ``(F, H, W, 3)`` RGB, per keyframe second ``1 .. seconds -
    1`` the actors' ``(box, labels)``, and per frame the prior boxes
    ``[(type, x1, y1, x2, y2)]`` in pixels."""
    w, h = SIZE
    num_frames = seconds * FPS
    bg = rng.integers(40, 90, (h // 8, w // 8, 3)).astype(np.uint8)
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_NEAREST)
    actors = []
    for i in range(num_actors):
        actors.append(
            dict(
                x=float(8 + i * (w - 24) / max(num_actors - 1, 1)),
                shade=int(rng.integers(140, 200)),
                states=actor_states(rng, seconds + 1)))
    frames = np.repeat(bg[None], num_frames, 0).copy()
    keyframes = {t: [] for t in range(1, seconds)}
    priors = [[] for _ in range(num_frames)]
    for f in range(num_frames):
        # The state of second t covers [t - 0.5, t + 0.5).
        sec = int(np.floor(f / FPS + 0.5))
        for actor in actors:
            st = actor['states'][sec]
            if st['walk']:
                actor['x'] += st['vx']
                if not 2 <= actor['x'] <= w - BODY_W - 2:
                    st['vx'] = -st['vx']
                    actor['x'] = float(np.clip(actor['x'], 2, w - BODY_W - 2))
            x1 = int(round(actor['x']))
            body_h = CROUCH_H if st['crouch'] else BODY_H
            y2 = h - 6
            y1 = y2 - body_h
            img = frames[f]
            img[y1:y2, x1:x1 + BODY_W] = actor['shade']
            img[y1:y1 + 6, x1 + 3:x1 + BODY_W - 3] = 220  # head
            boxes = priors[f]
            boxes.append(('person', x1, y1 - 8, x1 + BODY_W + 4, y2))
            boxes.append(('face', x1 + 1, y1, x1 + BODY_W - 3, y1 + 6))
            if st['wave']:
                dy = int(3 * np.sin(2 * np.pi * f / 4))
                img[y1 - 7 + dy:y1 - 3 + dy, x1 + BODY_W - 3:x1 + BODY_W] = 255
                boxes.append(('hand', x1 + BODY_W - 3, y1 - 7 + dy,
                              x1 + BODY_W, y1 - 3 + dy))
            if st['hold']:
                img[y1 + 12:y1 + 17,
                    x1 + BODY_W:x1 + BODY_W + 4] = (230, 30, 30)
                boxes.append(
                    ('object', x1 + BODY_W, y1 + 12, x1 + BODY_W + 4, y1 + 17))
            if st['phone']:
                img[y1 + 1:y1 + 5, x1 + 1:x1 + 3] = 15
            if f % FPS == 0 and sec in keyframes:
                box = (x1 / w, (y1 - 8) / h, min(x1 + BODY_W + 4, w) / w,
                       y2 / h)
                labels = [2 if st['walk'] else 1]
                labels += [
                    a for a, on in ((3, st['wave']), (4, st['hold']),
                                    (5, st['crouch']), (6, st['phone'])) if on
                ]
                keyframes[sec].append((box, labels))
    return frames, keyframes, priors


def write_priors(path: str, priors: list) -> None:
    """Saves the per-frame prior boxes (score 1, no keypoints)."""
    num, slots = len(priors), max(len(p) for p in priors)
    boxes = np.zeros((num, slots, 4), np.float32)
    types = np.full((num, slots), -1, np.int8)
    for f, frame in enumerate(priors):
        for m, (kind, *box) in enumerate(frame):
            boxes[f, m] = box
            types[f, m] = BOX_TYPES[kind]
    save_priors(
        path,
        frame_inds=np.arange(num),
        timestamps=np.arange(num) / FPS,
        boxes=boxes,
        box_scores=(types >= 0).astype(np.float32),
        box_types=types,
        keypoints=np.zeros((num, 0, 17, 3), np.float32),
        keypoint_layout='coco',
        video_size=(SIZE[1], SIZE[0]),
        meta='{"source": "make_ava_demo_data.py"}')


def write_movie(frames: np.ndarray, video: str, frame_dir: str) -> None:
    """Writes the mp4 and its decoded frames as JPEGs (numbered from 1)."""
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'mp4v'), FPS,
                             (w, h))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    os.makedirs(frame_dir, exist_ok=True)
    cap = cv2.VideoCapture(video)
    index = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        index += 1
        cv2.imwrite(
            osp.join(frame_dir, f'img_{index:05d}.jpg'), frame,
            [cv2.IMWRITE_JPEG_QUALITY, 95])
    cap.release()
    if index != len(frames):
        raise RuntimeError(f'{video}: decoded {index} of {len(frames)} '
                           'frames')


def proposals_for(rng: np.random.Generator, actors: list) -> np.ndarray:
    """Jittered actor boxes with high scores and one low-scored false box."""
    out = []
    for box, _ in actors:
        jitter = rng.normal(0, 0.015, 4)
        b = np.clip(np.array(box) + jitter, 0, 1)
        out.append([*b, rng.uniform(0.8, 1.0)])
    x = rng.uniform(0, 0.7)
    out.append([x, 0.1, x + 0.2, 0.5, rng.uniform(0.05, 0.5)])
    return np.array(out, np.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/ava_demo')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--train-movies', type=int, default=6)
    parser.add_argument('--val-movies', type=int, default=2)
    parser.add_argument('--seconds', type=int, default=8)
    args = parser.parse_args(argv)
    ann_dir = osp.join(args.out, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    os.makedirs(osp.join(args.out, 'videos'), exist_ok=True)
    with open(osp.join(ann_dir, 'ava_action_list_demo.pbtxt'), 'w') as f:
        for cid, name, evaluated in ACTIONS:
            if evaluated:
                f.write(f'item {{\n  name: "{name}"\n  id: {cid}\n}}\n')
    splits = dict(train=args.train_movies, val=args.val_movies)
    for split_index, (split, count) in enumerate(splits.items()):
        rows, proposals = [], {}
        for m in range(count):
            rng = np.random.default_rng([args.seed, split_index, m])
            video_id = f'{split}{m:02d}'
            frames, keyframes, priors = render_movie(rng, args.seconds,
                                                     int(rng.integers(2, 4)))
            write_priors(
                osp.join(args.out, 'priors', f'{video_id}.npz'), priors)
            write_movie(frames, osp.join(args.out, 'videos',
                                         f'{video_id}.mp4'),
                        osp.join(args.out, 'frames', video_id))
            for ts, actors in keyframes.items():
                for pid, (box, labels) in enumerate(actors):
                    for label in labels:
                        rows.append(f'{video_id},{ts:04d},{box[0]:.3f},'
                                    f'{box[1]:.3f},{box[2]:.3f},'
                                    f'{box[3]:.3f},{label},{pid}\n')
                proposals[f'{video_id},{ts:04d}'] = proposals_for(rng, actors)
        with open(osp.join(ann_dir, f'ava_{split}_demo.csv'), 'w') as f:
            f.writelines(rows)
        with open(
                osp.join(ann_dir, f'ava_dense_proposals_{split}_demo.pkl'),
                'wb') as f:
            pickle.dump(proposals, f)
    # The last keyframe of the first validation movie is excluded (its
    # annotations are dropped, as the official exclusions have none).
    excluded = f'val00,{args.seconds - 1:04d}'
    path = osp.join(ann_dir, 'ava_val_demo.csv')
    with open(path) as f:
        kept = [r for r in f if not r.startswith(excluded + ',')]
    with open(path, 'w') as f:
        f.writelines(kept)
    with open(osp.join(ann_dir, 'ava_val_excluded_timestamps_demo.csv'),
              'w') as f:
        f.write(excluded + '\n')
    print(f'AVA demo data written to {args.out}')


if __name__ == '__main__':
    main()
