"""The AVA part of the demo data: a few "movies" of several actors with
multi-label actions, two of them small details (:func:`make_ava`), and a
few clips in the format of the Kinetics part of AVA-Kinetics
(:func:`make_ava_kinetics`). Formats in ``docs/ava.md``.

Each movie draws from a generator seeded by ``(seed, split, movie)`` and
each AVA-Kinetics clip by ``(seed, split, clip, 1)``, so the same seed gives
the same bytes.
"""
import json
import os
import os.path as osp
import pickle
from typing import List

import cv2
import numpy as np

from ..prior_store import BOX_TYPES, save_priors
from .render import GENERATOR, SPLITS, write_mp4, youtube_id

#: AVA actions ``(id, name, evaluated)``; ``crouch`` is not evaluated, as
#: 20 of AVA's 80 classes are not.
AVA_ACTIONS = (
    (1, 'stand', True),
    (2, 'walk', True),
    (3, 'wave', True),
    (4, 'hold object', True),
    (5, 'crouch', False),
    (6, 'phone', True),
)
AVA_FPS = 10
AVA_SIZE = (96, 64)  # (W, H)
#: Actor body width, height and crouching height in pixels.
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
    w, h = AVA_SIZE
    num_frames = seconds * AVA_FPS
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
        sec = int(np.floor(f / AVA_FPS + 0.5))
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
            if f % AVA_FPS == 0 and sec in keyframes:
                box = (x1 / w, (y1 - 8) / h, min(x1 + BODY_W + 4, w) / w,
                       y2 / h)
                labels = [2 if st['walk'] else 1]
                labels += [
                    a for a, on in ((3, st['wave']), (4, st['hold']),
                                    (5, st['crouch']), (6, st['phone'])) if on
                ]
                keyframes[sec].append((box, labels))
    return frames, keyframes, priors


def write_movie_priors(path: str, priors: list) -> None:
    """Saves a movie's per-frame prior boxes (score 1, no keypoints)."""
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
        timestamps=np.arange(num) / AVA_FPS,
        boxes=boxes,
        box_scores=(types >= 0).astype(np.float32),
        box_types=types,
        keypoints=np.zeros((num, 0, 17, 3), np.float32),
        keypoint_layout='coco',
        video_size=(AVA_SIZE[1], AVA_SIZE[0]),
        meta=json.dumps(dict(generator=GENERATOR)))


def write_movie(frames: np.ndarray, video: str, frame_dir: str) -> None:
    """Writes the mp4 and its decoded frames as JPEGs (numbered from 1), as
    AVA users extract them."""
    write_mp4(video, frames, AVA_FPS)
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


def make_ava(root: str, seed: int, counts: dict) -> None:
    """Writes a small AVA-format set (formats in ``docs/ava.md``)::

        root/videos/{video_id}.mp4            mp4v at AVA_FPS
        root/frames/{video_id}/img_00001.jpg  the decoded frames
        root/annotations/ava_{train,val}_demo.csv
        root/annotations/ava_val_excluded_timestamps_demo.csv
        root/annotations/ava_action_list_demo.pbtxt  (5 of 6 evaluated)
        root/annotations/ava_dense_proposals_{train,val}_demo.pkl
        root/priors/{video_id}.npz            person/face/hand/object boxes

    Each movie shows 2-3 actors who, around every keyframe (one per second,
    movie time 0 = frame 0), stand or walk, may wave (a small hand moving
    up and down), hold an object, crouch or (rarely) be on the phone (a
    small dark square at the head): several actors, multi-label actions,
    small details and a long tail. Proposals are the actor boxes jittered,
    with scores in [0.8, 1], plus a low-scored false box. The last
    keyframe of the first validation movie is excluded.

    Args:
        root (str): Output folder.
        seed (int): Random seed.
        counts (dict): ``train_movies``, ``val_movies`` and
            ``movie_seconds`` (see
            :data:`~mvitx.datasets.demo.generate.SCALES`).
    """
    ann_dir = osp.join(root, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    os.makedirs(osp.join(root, 'videos'), exist_ok=True)
    with open(osp.join(ann_dir, 'ava_action_list_demo.pbtxt'), 'w') as f:
        for cid, name, evaluated in AVA_ACTIONS:
            if evaluated:
                f.write(f'item {{\n  name: "{name}"\n  id: {cid}\n}}\n')
    seconds = counts['movie_seconds']
    for split_index, split in enumerate(SPLITS):
        rows, proposals = [], {}
        for m in range(counts[f'{split}_movies']):
            rng = np.random.default_rng([seed, split_index, m])
            video_id = f'{split}{m:02d}'
            frames, keyframes, priors = render_movie(rng, seconds,
                                                     int(rng.integers(2, 4)))
            write_movie_priors(
                osp.join(root, 'priors', f'{video_id}.npz'), priors)
            write_movie(frames, osp.join(root, 'videos', f'{video_id}.mp4'),
                        osp.join(root, 'frames', video_id))
            for ts, actors in keyframes.items():
                for pid, (box, labels) in enumerate(actors):
                    for label in labels:
                        rows.append(f'{video_id},{ts:04d},{box[0]:.3f},'
                                    f'{box[1]:.3f},{box[2]:.3f},'
                                    f'{box[3]:.3f},{label},{pid}\n')
                proposals[f'{video_id},{ts:04d}'] = proposals_for(rng, actors)
        if split == 'val':
            # Excluded keyframes have no annotations, as in the official
            # files.
            excluded = f'val00,{seconds - 1:04d}'
            rows = [r for r in rows if not r.startswith(excluded + ',')]
            with open(
                    osp.join(ann_dir, 'ava_val_excluded_timestamps_demo.csv'),
                    'w') as f:
                f.write(excluded + '\n')
        with open(osp.join(ann_dir, f'ava_{split}_demo.csv'), 'w') as f:
            f.writelines(rows)
        with open(
                osp.join(ann_dir, f'ava_dense_proposals_{split}_demo.pkl'),
                'wb') as f:
            pickle.dump(proposals, f)


#: Clips per split of the AVA-Kinetics part (the last one without actors),
#: their length and the clip second of their keyframe.
AVA_KINETICS_CLIPS = dict(train=3, val=2)
AVA_KINETICS_SECONDS, AVA_KINETICS_KEYFRAME = 4, 2


def make_ava_kinetics(root: str, seed: int) -> None:
    """Writes the Kinetics part of a small AVA-Kinetics set next to the AVA
    part (formats in ``docs/ava.md``)::

        root/kinetics/videos/{split}/{youtube_id}_{start:06d}_{end:06d}.mp4
        root/kinetics/annotations/kinetics_{train,val}_demo.csv
        root/kinetics/annotations/kinetics_dense_proposals_{train,val}_demo.pkl

    Each clip (:data:`AVA_KINETICS_SECONDS` long, named by its seconds in a
    made-up YouTube video, as Kinetics-700 files are) has one annotated
    keyframe :data:`AVA_KINETICS_KEYFRAME` seconds in, timed in seconds of
    the YouTube video with microseconds, as ``kinetics_*_v1.0.csv``:
    ``youtube_id,timestamp,x1,y1,x2,y2,action_id`` rows (no person id),
    and ``youtube_id,timestamp`` for the last clip of each split, whose
    keyframe has no actors. Actors, actions and proposals are drawn as in
    :func:`make_ava`; proposals are keyed by the whole second
    (``'youtube_id,%04d'``, mmaction2's ``fetch_proposal.py`` keys). The
    label map is the AVA part's.

    Args:
        root (str): The AVA part's folder.
        seed (int): Random seed.
    """
    ann_dir = osp.join(root, 'kinetics', 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    for split_index, split in enumerate(SPLITS):
        video_dir = osp.join(root, 'kinetics', 'videos', split)
        os.makedirs(video_dir, exist_ok=True)
        rows, proposals = [], {}
        for c in range(AVA_KINETICS_CLIPS[split]):
            # The trailing 1 keeps these apart from the AVA movies' seeds.
            rng = np.random.default_rng([seed, split_index, c, 1])
            vid = youtube_id(rng)
            start = int(rng.integers(0, 300))
            num_actors = int(rng.integers(1, 3))
            if c == AVA_KINETICS_CLIPS[split] - 1:
                num_actors = 0
            frames, keyframes, _ = render_movie(rng, AVA_KINETICS_SECONDS,
                                                num_actors)
            end = start + AVA_KINETICS_SECONDS
            write_mp4(
                osp.join(video_dir, f'{vid}_{start:06d}_{end:06d}.mp4'),
                frames, AVA_FPS)
            # Kinetics keyframes are not at whole seconds; a few
            # milliseconds keep this one on the same frame.
            ts = start + AVA_KINETICS_KEYFRAME + int(rng.integers(0, 40)) / 1e3
            actors = keyframes[AVA_KINETICS_KEYFRAME]
            for box, labels in actors:
                for label in labels:
                    rows.append(f'{vid},{ts:.6f},{box[0]:.3f},{box[1]:.3f},'
                                f'{box[2]:.3f},{box[3]:.3f},{label}\n')
            if not actors:
                rows.append(f'{vid},{ts:.6f}\n')
            proposals[f'{vid},{int(ts):04d}'] = proposals_for(rng, actors)
        with open(osp.join(ann_dir, f'kinetics_{split}_demo.csv'), 'w') as f:
            f.writelines(rows)
        name = f'kinetics_dense_proposals_{split}_demo.pkl'
        with open(osp.join(ann_dir, name), 'wb') as f:
            pickle.dump(proposals, f)
