"""``mvitx.datasets.ava``: the AVA part, read with the demo AVA
config's dataset settings."""
import os.path as osp

import numpy as np
import pytest

from mvitx.datasets.demo import SCALES, make_ava
from mvitx.datasets.demo.ava import AVA_ACTIONS, AVA_FPS
from mvitx.registry import DATASETS
from mvitx.utils import load_config, register_all_modules
from tests.helpers import ROOT


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('demo') / 'ava')
    make_ava(out, 0, SCALES['tiny'])
    return out


def test_ava_part_loads_through_ava_dataset(root):
    """The AVA part, read with the demo AVA config's dataset settings from
    frames and from the mp4 files: every keyframe but the excluded one, the
    actors' labels and a prior file per movie."""
    register_all_modules()
    cfg = load_config(osp.join(ROOT, 'configs', 'ava', 'mvit_xs_demo_ava.py'))
    counts = SCALES['tiny']
    keyframes = counts['movie_seconds'] - 1  # whole seconds 1 .. S - 1
    evaluated = [cid for cid, _, on in AVA_ACTIONS if on]
    for split in ('train', 'val'):
        dataset_cfg = cfg[f'{split}_dataloader'].dataset
        dataset_cfg.update(data_root=root, pipeline=[], prior_prefix='priors')
        frames = DATASETS.build(dataset_cfg)
        videos = DATASETS.build(
            dict(dataset_cfg, data_prefix=dict(video='videos')))
        expected = counts[f'{split}_movies'] * keyframes - (split == 'val')
        assert len(frames) == len(videos) == expected
        assert frames.metainfo['label_ids'] == tuple(evaluated)
        for index in range(len(frames)):
            info, video_info = frames[index], videos[index]
            assert info['total_frames'] == AVA_FPS * counts['movie_seconds']
            assert osp.isfile(video_info['filename'])
            assert osp.isfile(info['prior_file'])
            np.testing.assert_array_equal(info['gt_bboxes_norm'],
                                          video_info['gt_bboxes_norm'])
            assert 2 <= len(np.unique(info['entity_ids'])) <= 3
            assert info['gt_labels'].shape[1] == len(AVA_ACTIONS)
            assert (info['gt_labels'].sum(1) >= 1).all()
        if split == 'val':
            keys = {(i['video_id'], i['timestamp'])
                    for i in map(frames.get_data_info, range(len(frames)))}
            assert ('val00', keyframes) not in keys


def test_default_validation_set_is_large_enough_for_map(tmp_path):
    """At the default scale one validation keyframe is well under a point
    of mAP: at least 150 evaluated keyframes, each with actors."""
    root = tmp_path / 'ava'
    make_ava(str(root), 0, dict(SCALES['small'], train_movies=0))
    with open(root / 'annotations' / 'ava_val_demo.csv') as f:
        rows = [line.split(',') for line in f.read().splitlines()]
    evaluated = {cid for cid, _, on in AVA_ACTIONS if on}
    keyframes = {(row[0], row[1]) for row in rows if int(row[6]) in evaluated}
    assert len(keyframes) >= 150
    assert len({(row[0], row[1]) for row in rows}) == len(keyframes)
