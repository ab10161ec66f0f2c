import cv2
import decord
import numpy as np

from mvitx.datasets.demo import make_kinetics
from mvitx.datasets.prior_store import (BOX_TYPES, align_priors, load_priors,
                                        save_priors)
from mvitx.visualization import draw_priors
from mvitx.visualization.draw import TYPE_COLORS
from tests.helpers import load_tool


def border_fraction(image, box, color):
    """Fraction of the one-pixel outline of ``box`` drawn in ``color``."""
    x1, y1, x2, y2 = box
    outline = np.concatenate([
        image[y1, x1:x2], image[y2 - 1, x1:x2], image[y1:y2, x1], image[y1:y2,
                                                                        x2 - 1]
    ])
    return (outline == color).all(-1).mean()


def test_grid_and_video_of_demo_priors(tmp_path, capsys):
    root = tmp_path / 'kinetics'
    make_kinetics(str(root), 0, dict(train_videos=1, val_videos=0), 64, 12)
    stem = sorted(p.stem for p in (root / 'videos_train').iterdir())[0]
    video = str(root / 'videos_train' / f'{stem}.mp4')
    prior_file = str(root / 'priors' / f'{stem}.npz')
    tool = load_tool('tools/visualize_priors.py')
    out = tmp_path / 'vis'
    assert tool.main([video, prior_file, '--out-dir', str(out)]) == 0
    assert 'wrote' in capsys.readouterr().out

    grid = cv2.imread(str(out / f'{stem}_priors.png'))[..., ::-1]
    # 8 of the 12 frames, 4 per row, upscaled 64 -> 256, 2-pixel gutters
    assert grid.shape == (2 * 258 - 2, 4 * 258 - 2, 3)
    priors = load_priors(prior_file)
    first = grid[:256, :256]
    object_box = priors['boxes'][0][priors['box_types'][0] ==
                                    BOX_TYPES['object']][0]
    x1, y1, x2, y2 = (object_box * 4).round().astype(int)
    color = TYPE_COLORS[BOX_TYPES['object']]
    assert border_fraction(first, (x1, y1, x2, y2), color) > 0.8
    # and not drawn somewhere else: shifted outlines are not that colour
    assert border_fraction(first, (x1 + 6, y1 + 6, x2 + 6, y2 + 6),
                           color) < 0.3

    reader = decord.VideoReader(str(out / f'{stem}_priors.mp4'))
    assert len(reader) == 12
    assert reader[0].shape == (256, 256, 3)


def test_frames_without_priors_are_marked(tmp_path):
    tool = load_tool('tools/visualize_priors.py')
    video = str(tmp_path / 'gray.mp4')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'mp4v'), 10,
                             (32, 32))
    for _ in range(6):
        writer.write(np.full((32, 32, 3), 100, np.uint8))
    writer.release()
    prior_file = str(tmp_path / 'gray.npz')
    save_priors(
        prior_file,
        frame_inds=[0, 30],  # frame 30 is past the end: ignored
        timestamps=[0., 3.],
        boxes=[[[4, 4, 20, 20]], [[0, 0, 1, 1]]],
        box_scores=[[0.9], [0.9]],
        box_types=[[BOX_TYPES['hand']], [BOX_TYPES['hand']]],
        keypoints=np.zeros((2, 0, 17, 3)),
        keypoint_layout='coco',
        video_size=(32, 32))
    out = tmp_path / 'vis'
    assert tool.main([
        video, prior_file, '--out-dir',
        str(out), '--min-size', '64', '--num-frames', '4'
    ]) == 0
    grid = cv2.imread(str(out / 'gray_priors.png'))[..., ::-1]
    assert grid.shape == (64, 64, 3)
    color = TYPE_COLORS[BOX_TYPES['hand']]
    assert border_fraction(grid, (8, 8, 40, 40), color) > 0.8

    priors = load_priors(prior_file)
    aligned = align_priors(priors, np.array([3]), 0)
    frame = np.full((32, 32, 3), 100, np.uint8)
    drawn = draw_priors(frame, aligned, 0, [], 0.3, 2.)
    assert drawn.shape == (64, 64, 3)
    red = drawn[..., 0].astype(int) - drawn[..., 1]
    assert (red > 60).any()  # the red "no priors" note
    assert not (drawn == color).all(-1).any()
