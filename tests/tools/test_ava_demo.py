"""tools/demo/ava_demo.py writes a playable mp4 with boxes drawn."""
import os.path as osp

import cv2
import numpy as np
import torch

from mvitx.registry import MODELS
from mvitx.utils import register_all_modules
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


def test_demo_writes_mp4_with_drawn_boxes(tmp_path):
    data = tmp_path / 'ava'
    generator = load_tool('tools/data/make_demo_data.py')
    generator.make_ava(
        str(data), 0, dict(train_movies=0, val_movies=1, movie_seconds=3))
    register_all_modules()
    from mmengine.config import Config
    model = MODELS.build(Config.fromfile(CONFIG).model)
    ckpt = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)

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
    src, src_fps = _read(video)
    dst, dst_fps = _read(out)
    assert dst.shape == src.shape and dst_fps == src_fps
    # Keyframe seconds 1 and 2 have proposals: their frames (and the frames
    # nearest to them) carry drawn boxes, second 0 has none.
    changed = np.abs(dst.astype(int) - src.astype(int)).max(axis=(1, 2, 3))
    assert (changed[:5] < 60).all()
    assert (changed[10:] > 100).all()
