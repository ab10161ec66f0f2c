"""``mvitx.datasets.demo.kinetics``: videos in the Kinetics formats whose
exact priors match the drawn pixels and whose class semantics the priors
confirm, read through ``VideoDataset`` with ``LoadPriors``."""
import csv
import json
import os
import os.path as osp
import re

import cv2
import decord
import numpy as np
import pytest

from mvitx.datasets.demo import SCALES, make_kinetics
from mvitx.datasets.demo.kinetics import (RADIUS_RANGES, VIDEO_CLASSES,
                                          plan_video)
from mvitx.datasets.demo.render import (HAND_COLOR, KEYPOINT_FLIP_PAIRS,
                                        KEYPOINT_NAMES, SHAPES, hand_pose,
                                        render)
from mvitx.datasets.prior_store import load_priors
from mvitx.registry import DATASETS
from mvitx.utils import register_all_modules


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('demo') / 'kinetics')
    make_kinetics(out, 0, SCALES['tiny'], 64, 16)
    return out


def read_list(path):
    with open(path) as f:
        return [line.split() for line in f.read().splitlines()]


def test_kinetics_lists_csv_and_videos(root):
    with open(osp.join(root, 'classes.txt')) as f:
        classes = f.read().splitlines()
    assert classes == [name for name, *_ in VIDEO_CLASSES]
    for split in ('train', 'val'):
        entries = read_list(osp.join(root, f'{split}_list.txt'))
        assert sorted(os.listdir(osp.join(root, f'videos_{split}'))) == \
            sorted(name for name, _ in entries)
        with open(osp.join(root, f'{split}.csv'), newline='') as f:
            rows = list(csv.DictReader(f))
        assert list(rows[0]) == [
            'label', 'youtube_id', 'time_start', 'time_end', 'split'
        ]
        assert len(rows) == len(entries)
        for row, (name, label) in zip(rows, entries):
            assert row['split'] == split
            assert row['label'] == classes[int(label)]
            assert re.fullmatch(r'[\w-]{11}', row['youtube_id'])
            start, end = int(row['time_start']), int(row['time_end'])
            assert name == f"{row['youtube_id']}_{start:06d}_{end:06d}.mp4"
            path = osp.join(root, f'videos_{split}', name)
            reader = decord.VideoReader(path)
            assert len(reader) == 16
            assert reader[0].shape == (64, 64, 3)
            capture = cv2.VideoCapture(path)
            assert capture.read()[0]
            capture.release()
            assert osp.isfile(
                osp.join(root, 'priors', name.replace('.mp4', '.npz')))


def test_test_split_only_when_asked(tmp_path):
    """``test_videos`` adds a held-out split; the train and validation
    videos are the same bytes with or without it."""
    counts = dict(SCALES['tiny'], val_videos=0)
    make_kinetics(str(tmp_path / 'plain'), 0, counts, 32, 4)
    make_kinetics(
        str(tmp_path / 'test'), 0, dict(counts, test_videos=2), 32, 4)
    assert not osp.exists(tmp_path / 'plain' / 'test_list.txt')
    assert not osp.exists(tmp_path / 'plain' / 'val_list.txt')
    train = read_list(tmp_path / 'test' / 'train_list.txt')
    assert train == read_list(tmp_path / 'plain' / 'train_list.txt')
    for name, _ in train:
        with open(tmp_path / 'plain' / 'videos_train' / name, 'rb') as f:
            reference = f.read()
        with open(tmp_path / 'test' / 'videos_train' / name, 'rb') as f:
            assert f.read() == reference
    test = read_list(tmp_path / 'test' / 'test_list.txt')
    assert sorted(int(label) for _, label in test) == sorted(
        list(range(len(VIDEO_CLASSES))) * 2)
    assert not {name for name, _ in test} & {name for name, _ in train}
    assert sorted(os.listdir(tmp_path / 'test' / 'videos_test')) == sorted(
        name for name, _ in test)
    with open(tmp_path / 'test' / 'test.csv', newline='') as f:
        assert {row['split'] for row in csv.DictReader(f)} == {'test'}


def test_object_classes(tmp_path):
    """``class_set='objects'``: one '<shape> slides' class per image class,
    each video showing its class's shape sliding sideways, at the sizes of
    the larger image objects."""
    make_kinetics(str(tmp_path), 0, SCALES['tiny'], 64, 8, class_set='objects')
    with open(tmp_path / 'classes.txt') as f:
        assert f.read().splitlines() == [f'{s} slides' for s in SHAPES]
    labels = []
    for _, label, priors in iter_videos(str(tmp_path)):
        meta = json.loads(priors['meta'])
        assert meta['shape'] == SHAPES[label]
        assert meta['class_name'] == f'{SHAPES[label]} slides'
        low, high = RADIUS_RANGES['objects']
        assert low * 64 <= meta['object_radius'] <= high * 64
        centers = priors['keypoints'][:, 0, 0, :2]
        assert abs(centers[-1, 0] - centers[0, 0]) > 5
        np.testing.assert_allclose(centers[:, 1], centers[0, 1])
        labels.append(label)
    assert sorted(labels) == sorted(list(range(len(SHAPES))) * 2)
    with pytest.raises(ValueError, match=r"'verbs'.*\['demo', 'objects'\]"):
        make_kinetics(str(tmp_path / 'x'), 0, SCALES['tiny'], 64, 8, 'verbs')


def iter_videos(root):
    for split in ('train', 'val'):
        for name, label in read_list(osp.join(root, f'{split}_list.txt')):
            priors = load_priors(
                osp.join(root, 'priors', name.replace('.mp4', '.npz')))
            yield osp.join(root, f'videos_{split}', name), int(label), priors


def color_match(frames, color, tolerance=45):
    """(T, H, W) bool: pixels within ``tolerance`` of ``color``."""
    diff = np.abs(frames.astype(np.int32) - np.asarray(color))
    return diff.max(axis=-1) < tolerance


def box_mask(box, size, margin=0):
    x1, y1, x2, y2 = box
    mask = np.zeros((size, size), bool)
    mask[max(int(y1) - margin, 0):int(y2) + margin,
         max(int(x1) - margin, 0):int(x2) + margin] = True
    return mask


def test_priors_format_and_boxes_cover_drawn_pixels(root):
    for path, label, priors in iter_videos(root):
        meta = json.loads(priors['meta'])
        assert meta['label'] == label
        assert priors['keypoint_layout'] == 'demo'
        np.testing.assert_array_equal(priors['frame_inds'], np.arange(16))
        np.testing.assert_array_equal(priors['video_size'], [64, 64])
        assert priors['boxes'].shape == (16, 3, 4)
        assert priors['keypoints'].shape == (16, 1, len(KEYPOINT_NAMES), 3)
        np.testing.assert_array_equal(priors['box_types'],
                                      np.tile([0, 1, 3], (16, 1)))
        np.testing.assert_array_equal(priors['box_person'],
                                      np.tile([0, 0, -1], (16, 1)))
        np.testing.assert_array_equal(priors['keypoint_flip_pairs'],
                                      KEYPOINT_FLIP_PAIRS)
        boxes = priors['boxes']
        assert boxes.min() >= 0 and boxes.max() <= 64
        assert np.all(boxes[..., 2:] > boxes[..., :2])
        person, hand, obj = boxes[:, 0], boxes[:, 1], boxes[:, 2]
        assert np.all(person[:, :2] <= np.minimum(hand[:, :2], obj[:, :2]))
        assert np.all(person[:, 2:] >= np.maximum(hand[:, 2:], obj[:, 2:]))
        kpts = priors['keypoints'][:, 0]
        np.testing.assert_array_equal(kpts[..., 2], 1.)
        assert np.all(kpts[:, 1:, :2] >= hand[:, None, :2] - 1)
        assert np.all(kpts[:, 1:, :2] <= hand[:, None, 2:] + 1)

        frames = decord.VideoReader(path).get_batch(list(range(16)))
        frames = frames.asnumpy()
        for key, box in (('object_color', obj), ('hand_color', hand)):
            matched = color_match(frames, meta[key])
            for t in range(16):
                inside = box_mask(box[t], 64, margin=2)
                # The colour is drawn inside the box and nowhere else (lossy
                # video smears edges by a pixel or two, and rarely rings).
                assert matched[t][inside].sum() >= 3
                assert matched[t][~inside].sum() <= 3 + 0.02 * matched[t].sum()
                tight = box_mask(box[t], 64)
                assert matched[t][tight].sum() >= 0.8 * matched[t].sum()


def test_class_semantics_in_priors(root):
    """The motion each class names is the motion of its priors."""
    seen = set()
    for _, label, priors in iter_videos(root):
        name, motion, shape, reverse = VIDEO_CLASSES[label]
        meta = json.loads(priors['meta'])
        kpts = priors['keypoints'][:, 0, :, :2]
        obj_center, palm, tips = kpts[:, 0], kpts[:, 1], kpts[:, 2:]
        spread = np.linalg.norm(tips[:, 0] - tips[:, 3], axis=1)
        # Pointing direction's vertical part (image y grows downwards).
        pointing_y = tips.mean(1)[:, 1] - palm[:, 1]
        moved = obj_center[-1] - obj_center[0]
        low, high = RADIUS_RANGES['demo']
        assert low * 64 <= meta['object_radius'] <= high * 64
        if motion == 'slide':
            assert meta['shape'] == shape
            assert abs(moved[0]) > 5 and moved[1] == 0
        elif motion == 'rise':
            assert moved[0] == 0
            assert (moved[1] > 5) == reverse and abs(moved[1]) > 5
        else:
            np.testing.assert_array_equal(moved, 0)
        if motion == 'open':
            assert (spread[-1] < spread[0]) == reverse
        else:
            np.testing.assert_allclose(spread, spread[0], atol=1e-4)
        if motion == 'turn_up':
            assert pointing_y[-1] < -1 and abs(pointing_y[0]) < 1e-3
        elif motion == 'turn_down':
            assert pointing_y[-1] > 1 and abs(pointing_y[0]) < 1e-3
        seen.add(name)
    assert len(seen) == len(VIDEO_CLASSES)


def test_reversed_classes_show_the_same_frames_backwards():
    size, num_frames = 64, 8
    plans = [
        plan_video(np.random.default_rng(5), 'rise', None, size, num_frames)
        for _ in range(2)
    ]
    background = np.zeros((size, size, 3), np.uint8)
    (obj, centers, poses), _ = plans
    rises, _, _ = render(background, obj, centers, poses)
    falls, _, _ = render(background, obj, centers[::-1], poses[::-1])
    np.testing.assert_array_equal(falls, rises[::-1])
    assert not np.array_equal(falls, rises)


def _tip_angles(palm, tips):
    """Fingertip angles relative to the hand's mean pointing direction."""
    vectors = tips - palm
    mean = vectors.mean(0)
    cross = mean[0] * vectors[:, 1] - mean[1] * vectors[:, 0]
    return np.arctan2(cross, vectors @ mean)


def test_flip_pairs_keep_fingertip_order():
    """A mirrored hand with swapped flip pairs lists its fingertips in the
    same angular order as an unflipped hand."""
    pose = hand_pose(np.array([30., 30.]), 0.3, 1., 1.)
    flipped = pose.copy()
    flipped[:, 0] = 64 - flipped[:, 0]
    keypoints = np.concatenate([np.zeros((1, 2)), flipped])  # + object
    for i, j in KEYPOINT_FLIP_PAIRS:
        keypoints[[i, j]] = keypoints[[j, i]]

    original = _tip_angles(pose[0], pose[1:])
    assert np.all(np.diff(original) > 0)
    mirrored = _tip_angles(keypoints[1], keypoints[2:])
    np.testing.assert_allclose(mirrored, original, atol=1e-6)


def _build_dataset(**cfg):
    register_all_modules()
    return DATASETS.build(cfg)


def _infos(dataset, key):
    return [(dataset.get_data_info(i)[key], dataset.get_data_info(i)['label'])
            for i in range(len(dataset))]


def test_videos_and_priors_load_through_video_dataset(root):
    pipeline = [
        dict(type='DecordInit'),
        dict(
            type='SampleFrames', clip_len=8, frame_interval=2, test_mode=True),
        dict(type='DecordDecode'),
        dict(type='LoadPriors', max_gap=0, keypoint_layout='demo'),
        dict(type='Flip', flip_ratio=1.)
    ]
    common = dict(
        type='VideoDataset',
        pipeline=pipeline,
        data_prefix=dict(video=osp.join(root, 'videos_val')),
        prior_prefix=osp.join(root, 'priors'),
        test_mode=True)
    by_list = _build_dataset(
        ann_file=osp.join(root, 'val_list.txt'),
        classes=osp.join(root, 'classes.txt'),
        **common)
    # The class list from the training CSV's names equals classes.txt.
    by_csv = _build_dataset(
        ann_file=osp.join(root, 'val.csv'),
        classes=osp.join(root, 'train.csv'),
        **common)
    assert _infos(by_csv, 'filename') == _infos(by_list, 'filename')
    assert by_csv.metainfo['classes'] == by_list.metainfo['classes']

    for index in range(len(by_list)):
        sample = by_list[index]
        assert sample['imgs'].shape == (8, 64, 64, 3)
        stored = load_priors(sample['prior_file'])
        inds = sample['frame_inds']
        np.testing.assert_array_equal(inds, np.arange(0, 16, 2))
        # The horizontal flip mirrors the stored boxes...
        expected = stored['boxes'][inds][..., [2, 1, 0, 3]] * [-1, 1, -1, 1]
        expected += [64, 0, 64, 0]
        np.testing.assert_allclose(sample['prior_bboxes'], expected)
        np.testing.assert_array_equal(sample['prior_box_types'],
                                      stored['box_types'][inds])
        keypoints = sample['prior_keypoints']
        assert keypoints.shape == (8, 1, len(KEYPOINT_NAMES), 3)
        # ...and with the swapped flip pairs the fingertips keep their order.
        for t in range(8):
            angles = _tip_angles(keypoints[t, 0, 1, :2], keypoints[t, 0,
                                                                   2:, :2])
            assert np.all(np.diff(angles) > 0)
        # The flipped hand box still covers the (white) hand pixels.
        matched = color_match(sample['imgs'], HAND_COLOR)
        for t in range(8):
            inside = box_mask(sample['prior_bboxes'][t, 1], 64)
            assert matched[t][inside].sum() >= 0.8 * matched[t].sum() > 0
