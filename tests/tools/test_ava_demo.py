"""tools/demo/ava_demo.py writes a playable mp4 with boxes drawn, the
actors coming from proposals or from an mmdet person detector."""
import os.path as osp

import cv2
import numpy as np
import torch

from mvitx.datasets.demo import make_ava
from mvitx.registry import MODELS
from mvitx.utils import load_config, register_all_modules
from tests.apis.test_detector import RTMDET, write_person_detector
from tests.helpers import ROOT, load_tool

CONFIG = osp.join(ROOT, 'configs', 'ava', 'mvit_xs_demo_ava.py')


def _read(path):
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return np.stack(frames), fps


def _demo_data(tmp_path):
    """One 3-second demo AVA movie and a checkpoint of the demo config's
    randomly initialised model."""
    data = tmp_path / 'ava'
    make_ava(str(data), 0, dict(train_movies=0, val_movies=1, movie_seconds=3))
    register_all_modules()
    model = MODELS.build(load_config(CONFIG).model)
    ckpt = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    return data, ckpt


def _changed(video, out):
    """Per frame, the largest pixel change from ``video`` to ``out``."""
    src, src_fps = _read(video)
    dst, dst_fps = _read(out)
    assert dst.shape == src.shape and dst_fps == src_fps
    return np.abs(dst.astype(int) - src.astype(int)).max(axis=(1, 2, 3))


def test_demo_writes_mp4_with_drawn_boxes(tmp_path):
    data, ckpt = _demo_data(tmp_path)
    video = data / 'videos' / 'val00.mp4'
    out = tmp_path / 'out.mp4'
    load_tool('tools/demo/ava_demo.py').main([
        str(video), CONFIG,
        str(ckpt), '--out',
        str(out), '--proposals',
        str(data / 'annotations' / 'ava_dense_proposals_val_demo.pkl'),
        '--action-score-thr', '0', '--cfg-options',
        f'test_dataloader.dataset.data_root={data}'
    ])
    # Keyframe seconds 1 and 2 have proposals: their frames (and the frames
    # nearest to them) carry drawn boxes, second 0 has none.
    changed = _changed(video, out)
    assert (changed[:5] < 60).all()
    assert (changed[10:] > 100).all()


def test_demo_with_person_detector_draws_at_every_keyframe(tmp_path):
    """An RTMDet (mmdet's shipped config, given by name) that finds one
    frame-sized person in every frame: every frame gets its box drawn,
    second 0 too."""
    data, ckpt = _demo_data(tmp_path)
    video = data / 'videos' / 'val00.mp4'
    out = tmp_path / 'out.mp4'
    load_tool('tools/demo/ava_demo.py').main([
        str(video), CONFIG,
        str(ckpt), '--out',
        str(out), '--det-config', RTMDET, '--det-checkpoint',
        write_person_detector(str(tmp_path / 'rtmdet.pth')), '--det-score-thr',
        '0.5', '--action-score-thr', '0', '--cfg-options',
        f'test_dataloader.dataset.data_root={data}'
    ])
    assert (_changed(video, out) > 100).all()
