import glob
import logging
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
from mmengine.dataset import Compose

from mvitx.datasets.demo import make_kinetics
from mvitx.datasets.prior_store import (KEYPOINT_LAYOUTS, load_priors,
                                        save_priors)
from mvitx.datasets.transforms import LoadPriors, SelectActorPriors
from mvitx.models.data_preprocessors import ActionDataPreprocessor
from mvitx.structures import HAND, OBJECT, PERSON
from mvitx.utils import load_config, register_all_modules
from tests.helpers import ROOT, LogRecords

register_all_modules()

H, W, NUM_FRAMES, SIDE = 48, 64, 20, 12


def square_box(frame):
    """Exact box of the red square in ``frame`` (moves 2 px right/frame)."""
    x1, y1 = 4 + 2 * frame, 10 + frame // 2
    return np.array([x1, y1, x1 + SIDE, y1 + SIDE], np.float32)


def write_video_and_priors(tmp_path, stored_frames, prior_scale=1):
    """A real mp4 of a red square on grey, and its exact priors (type 3
    box, keypoint 0 at the square's left edge, 1 at its right edge) for
    ``stored_frames``, stored at ``prior_scale`` times the video size."""
    video = str(tmp_path / 'square.mp4')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'mp4v'), 25,
                             (W, H))
    for f in range(NUM_FRAMES):
        frame = np.full((H, W, 3), 128, np.uint8)
        x1, y1, x2, y2 = square_box(f).astype(int)
        frame[y1:y2, x1:x2] = (0, 0, 255)  # BGR red
        writer.write(frame)
    writer.release()
    boxes = np.stack([square_box(f) for f in stored_frames])[:, None]
    mid_y = (boxes[..., 1] + boxes[..., 3]) / 2
    keypoints = np.stack([
        np.stack(
            [boxes[..., 0], mid_y, np.ones_like(mid_y)], -1),
        np.stack(
            [boxes[..., 2], mid_y, np.ones_like(mid_y)], -1)
    ], -2)  # (F, 1, 2, 3)
    keypoints[..., :2] *= prior_scale
    prior = str(tmp_path / 'square.npz')
    save_priors(
        prior,
        frame_inds=np.asarray(stored_frames),
        timestamps=np.asarray(stored_frames) / 25.,
        boxes=boxes * prior_scale,
        box_scores=np.ones((len(stored_frames), 1), np.float32),
        box_types=np.full((len(stored_frames), 1), 3, np.int8),
        keypoints=keypoints,
        keypoint_layout='demo',
        keypoint_flip_pairs=[(0, 1)],
        video_size=(H * prior_scale, W * prior_scale))
    return video, prior


def decode(video, prior, frame_inds, max_gap):
    pipeline = Compose([
        dict(type='DecordInit'),
        dict(type='DecordDecode'),
        dict(type='LoadPriors', max_gap=max_gap)
    ])
    return pipeline(
        dict(filename=video, prior_file=prior, frame_inds=frame_inds))


def test_aligns_nearest_stored_frame_and_rescales(tmp_path):
    # priors on every 4th frame, extracted at twice the decoded size
    video, prior = write_video_and_priors(
        tmp_path, range(0, NUM_FRAMES, 4), prior_scale=2)
    frame_inds = np.array([0, 1, 2, 3, 5, 8, 18, 19])
    results = decode(video, prior, frame_inds, max_gap=1)
    assert results['imgs'].shape == (8, H, W, 3)
    boxes = results['prior_bboxes']
    assert boxes.shape == (8, 1, 4) and boxes.dtype == np.float32
    expected = {0: 0, 1: 0, 3: 4, 5: 4, 8: 8}  # frame -> stored frame
    for t, frame in enumerate(frame_inds):
        if frame in expected:
            np.testing.assert_allclose(boxes[t, 0],
                                       square_box(expected[frame]))
            assert results['prior_box_types'][t, 0] == 3
            assert results['prior_box_scores'][t, 0] == 1
            np.testing.assert_allclose(results['prior_keypoints'][t, 0, :, 0],
                                       square_box(expected[frame])[[0, 2]])
        else:  # 2, 18, 19 are 2+ frames from a stored one
            assert results['prior_box_types'][t, 0] == -1
            assert (results['prior_keypoints'][t, ..., 2] == 0).all()
    assert results['prior_keypoints'].shape == (8, 1, 2, 3)
    assert results['keypoint_flip_pairs'] == [(0, 1)]


@pytest.fixture(scope='module')
def demo_kinetics(tmp_path_factory):
    """The demo generator's videos (one per class) and exact priors."""
    root = str(tmp_path_factory.mktemp('demo'))
    make_kinetics(root, 0, dict(train_videos=1, val_videos=0), 64, 12)
    videos = sorted(os.listdir(osp.join(root, 'videos_train')))
    assert len(videos) >= 8
    return [(osp.join(root, 'videos_train',
                      v), osp.join(root, 'priors', v[:-4] + '.npz'))
            for v in videos]


def object_mask(img, hand_box):
    """Object pixels of a demo frame: saturated (one channel bright, one
    dark), unlike the dark background and the near-white hand, and away
    from the hand (whose compressed edges are saturated too)."""
    img = img.astype(int)
    mask = (img.max(-1) >= 140) & (img.min(-1) <= 130)
    x1, y1, x2, y2 = hand_box
    ys, xs = np.mgrid[:img.shape[0], :img.shape[1]]
    near_hand = ((xs + 1 >= x1 - 2) & (xs <= x2 + 2) & (ys + 1 >= y1 - 2) &
                 (ys <= y2 + 2))
    return mask & ~near_hand


def hand_mask(img):
    return img.min(-1) >= 200


def assert_box_hugs(mask, box, tol):
    """Every pixel of ``mask`` lies in ``box`` (up to ``tol`` pixels) and
    the box is tight: its IoU with the pixels' extent is at least 0.5 (the
    mask misses the object's dark texture and compression-blurred edges).
    """
    x1, y1, x2, y2 = box
    if mask.sum() < 3:  # cropped away: the box collapsed too
        assert (x2 - x1) * (y2 - y1) < 6 * tol**2
        return
    ys, xs = np.nonzero(mask)
    ex1, ey1, ex2, ey2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    assert ex1 >= x1 - tol and ey1 >= y1 - tol, (box, (ex1, ey1))
    assert ex2 <= x2 + tol and ey2 <= y2 + tol, (box, (ex2, ey2))
    inter = max(0,
                min(x2, ex2) - max(x1, ex1)) * max(0,
                                                   min(y2, ey2) - max(y1, ey1))
    union = (x2 - x1) * (y2 - y1) + (ex2 - ex1) * (ey2 - ey1) - inter
    assert inter / union >= 0.5, (box, (ex1, ey1, ex2, ey2))


def test_aligns_demo_generator_priors(demo_kinetics):
    for video, prior in demo_kinetics:
        stored = load_priors(prior)
        pipeline = Compose([
            dict(type='DecordInit'),
            dict(type='SampleFrames', clip_len=4, frame_interval=3),
            dict(type='DecordDecode'),
            dict(type='LoadPriors', max_gap=0)
        ])
        results = pipeline(dict(filename=video, prior_file=prior))
        inds = results['frame_inds']
        np.testing.assert_array_equal(results['prior_bboxes'],
                                      stored['boxes'][inds])
        np.testing.assert_array_equal(results['prior_box_types'],
                                      stored['box_types'][inds])
        np.testing.assert_array_equal(results['prior_keypoints'],
                                      stored['keypoints'][inds])
        assert results['keypoint_flip_pairs'] == [
            tuple(p) for p in stored['keypoint_flip_pairs'].tolist()
        ]
        # the stored boxes are where the decoded frames show the object
        for t in range(len(inds)):
            types = results['prior_box_types'][t]
            assert_box_hugs(
                object_mask(results['imgs'][t],
                            results['prior_bboxes'][t][types == 1][0]),
                results['prior_bboxes'][t][types == 3][0],
                tol=1.5)


@pytest.mark.parametrize('seed', range(3))
def test_boxes_cover_object_after_crop_resize_flip(demo_kinetics, seed):
    pipeline = Compose([
        dict(type='DecordInit'),
        dict(type='SampleFrames', clip_len=3, frame_interval=4),
        dict(type='DecordDecode'),
        dict(type='LoadPriors', max_gap=0),
        dict(type='RandomResizedCrop', area_range=(0.4, 1.0)),
        dict(type='Resize', scale=(48, 40)),
        dict(type='Flip', flip_ratio=1.0),
    ])
    np.random.seed(seed)
    checked = 0
    for video, prior in demo_kinetics:
        results = pipeline(dict(filename=video, prior_file=prior))
        assert results['imgs'].shape[1:3] == (40, 48)
        for t in range(3):
            img, types = results['imgs'][t], results['prior_box_types'][t]
            boxes = results['prior_bboxes'][t]
            # resizing by up to 64 / 0.63 / 48 ~ 2x blurs edges more
            assert_box_hugs(
                object_mask(img, boxes[types == 1][0]),
                boxes[types == 3][0],
                tol=3)
            hand = hand_mask(img)
            if hand.sum() >= 3:
                x1, y1, x2, y2 = boxes[types == 1][0]
                ys, xs = np.nonzero(hand)
                assert (xs >= x1 - 3).all() and (xs + 1 <= x2 + 3).all()
                assert (ys >= y1 - 3).all() and (ys + 1 <= y2 + 3).all()
                checked += 1
    assert checked > 0


def test_flip_swaps_demo_fingertips(demo_kinetics):
    video, prior = demo_kinetics[0]
    common = [
        dict(type='DecordInit'),
        dict(type='SampleFrames', clip_len=2, test_mode=True),
        dict(type='DecordDecode'),
        dict(type='LoadPriors', max_gap=0)
    ]
    plain = Compose(common)(dict(filename=video, prior_file=prior))
    flipped = Compose(common + [dict(type='Flip', flip_ratio=1.)])(
        dict(filename=video, prior_file=prior))
    order = np.arange(6)
    for i, j in plain['keypoint_flip_pairs']:
        order[i], order[j] = j, i
    expected = plain['prior_keypoints'][:, :, order].copy()
    expected[..., 0] = 64 - expected[..., 0]
    np.testing.assert_allclose(flipped['prior_keypoints'], expected)


def test_missing_file_or_key_gives_empty_priors(tmp_path):
    transform = LoadPriors(max_gap=2, keypoint_layout='coco_wholebody')
    for results in (dict(frame_inds=np.arange(5)),
                    dict(
                        frame_inds=np.arange(5),
                        prior_file=str(tmp_path / 'none.npz'))):
        out = transform(results)
        assert out['prior_bboxes'].shape == (5, 0, 4)
        assert out['prior_box_types'].shape == (5, 0)
        assert out['prior_box_scores'].shape == (5, 0)
        assert out['prior_keypoints'].shape == (5, 0, 133, 3)
        assert out['keypoint_flip_pairs'] == list(
            KEYPOINT_LAYOUTS['coco_wholebody'].flip_pairs)
    assert LoadPriors()(
        dict(frame_inds=np.arange(2)))['prior_keypoints'].shape == (2, 0, 0, 3)


def test_missing_file_raises_naming_it(tmp_path):
    missing = str(tmp_path / 'prior_typo' / 'vid.npz')
    transform = LoadPriors(on_missing='raise')
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        transform(dict(frame_inds=np.arange(2), prior_file=missing))
    # A sample whose dataset has no prior_prefix misses nothing.
    out = transform(dict(frame_inds=np.arange(2)))
    assert out['prior_bboxes'].shape == (2, 0, 4)


def test_missing_files_warn_with_a_running_count(tmp_path):
    names = [str(tmp_path / f'{i}.npz') for i in range(5)]
    transform = LoadPriors(on_missing='warn')
    with LogRecords() as records:
        for name in names[:4] + names[:2] + names[4:]:
            out = transform(dict(frame_inds=np.arange(3), prior_file=name))
            assert out['prior_bboxes'].shape == (3, 0, 4)
    # One WARNING per distinct missing file, with the count so far and the
    # first three names.
    assert [r.levelno for r in records] == [logging.WARNING] * 5
    messages = [r.getMessage() for r in records]
    for count, (name, message) in enumerate(zip(names, messages), 1):
        assert message.startswith(f'LoadPriors: no prior file {name};')
        assert f'{count} missing prior file(s) so far' in message
        assert f'(first: {", ".join(names[:min(count, 3)])})' in message


def test_missing_files_skip_logs_once(tmp_path):
    transform = LoadPriors(on_missing='skip')
    with LogRecords() as records:
        for i in range(3):
            out = transform(
                dict(
                    frame_inds=np.arange(2),
                    prior_file=str(tmp_path / f'{i}.npz')))
            assert out['prior_bboxes'].shape == (2, 0, 4)
    assert [r.levelno for r in records] == [logging.INFO]
    with pytest.raises(ValueError, match='on_missing'):
        LoadPriors(on_missing='ignore')


def test_topdown_configs_raise_on_missing_priors():
    configs = glob.glob(osp.join(ROOT, 'configs', 'topdown', '*.py'))
    configs += glob.glob(osp.join(ROOT, 'configs', 'ava', '*topdown*.py'))
    assert len(configs) >= 5
    for path in configs:
        cfg = load_config(path)
        found = [
            t for t in _pipelines(cfg.to_dict())
            if t.get('type') == 'LoadPriors'
        ]
        assert found, path
        assert all(t.get('on_missing') == 'raise' for t in found), path


def _pipelines(node):
    """Every transform dict of every ``pipeline`` in a config subtree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'pipeline':
                yield from (t for t in value if isinstance(t, dict))
            yield from _pipelines(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _pipelines(value)


def test_layout_mismatch_and_bad_args(tmp_path):
    _, prior = write_video_and_priors(tmp_path, [0])
    with pytest.raises(ValueError, match="expected 'coco'"):
        LoadPriors(keypoint_layout='coco')(
            dict(frame_inds=np.arange(2), prior_file=prior))
    with pytest.raises(ValueError, match='unknown keypoint_layout'):
        LoadPriors(keypoint_layout='mpii')
    with pytest.raises(ValueError, match='max_gap'):
        LoadPriors(max_gap=-1)


def test_image_is_one_frame(tmp_path):
    _, prior = write_video_and_priors(tmp_path, [0])
    image = str(tmp_path / 'img.jpg')
    cv2.imwrite(image, np.zeros((H, W, 3), np.uint8))
    pipeline = Compose([dict(type='LoadImage'), dict(type='LoadPriors')])
    out = pipeline(dict(img_path=image, prior_file=prior))
    assert out['imgs'].shape == (1, H, W, 3)
    np.testing.assert_allclose(out['prior_bboxes'][0, 0], square_box(0))


def test_dataset_to_packed_priors(demo_kinetics):
    """The whole chain: a VideoDataset config with ``prior_prefix`` over the
    demo data, LoadPriors, augmentation and packing."""
    from mvitx.registry import DATASETS
    root = osp.dirname(osp.dirname(demo_kinetics[0][0]))
    dataset = DATASETS.build(
        dict(
            type='VideoDataset',
            ann_file='train_list.txt',
            data_root=root,
            data_prefix=dict(video='videos_train'),
            prior_prefix='priors',
            pipeline=[
                dict(type='DecordInit'),
                dict(type='SampleFrames', clip_len=4, frame_interval=2),
                dict(type='DecordDecode'),
                dict(type='LoadPriors', max_gap=1, keypoint_layout='demo'),
                dict(type='RandomResizedCrop'),
                dict(type='Resize', scale=(32, 32)),
                dict(type='Flip', flip_ratio=0.5),
                # 'source' is left out of the metainfo: setting it fails
                # on ActionDataSample's read-only ``source`` property
                dict(
                    type='PackActionInputs',
                    meta_keys=('filename', 'frame_inds', 'prior_file')),
            ]))
    assert len(dataset) == len(demo_kinetics)
    sample = dataset[0]['data_samples']
    priors = sample.priors
    assert priors.bboxes.shape == (4, 3, 4)
    assert priors.types.tolist() == [[0, 1, 3]] * 4
    assert priors.valid.all()
    assert priors.keypoints.shape == (4, 1, 6, 3)
    assert (priors.bboxes >= 0).all() and (priors.bboxes <= 32).all()
    assert sample.metainfo['prior_file'].endswith('.npz')


def _two_people_priors():
    """One frame: person 0 at the left with a linked hand, person 1 at the
    right with a linked hand, an unlinked object beside person 0 and an
    unlinked face far from both."""
    boxes = np.array([[[0, 0, 20, 40], [40, 0, 60, 40], [15, 10, 20, 15],
                       [55, 10, 60, 15], [21, 20, 25, 24], [30, 50, 34, 54]]],
                     np.float32)
    keypoints = np.zeros((1, 2, 17, 3), np.float32)
    keypoints[..., 2] = 1
    return dict(
        prior_bboxes=boxes,
        prior_box_types=np.array([[0, 0, 1, 1, 3, 2]]),
        prior_box_person=np.array([[0, 1, 0, 1, -1, -1]]),
        prior_box_scores=np.ones((1, 6), np.float32),
        prior_keypoints=keypoints)


@pytest.mark.parametrize('key', ['gt_bboxes', 'proposals'])
def test_select_actor_priors_keeps_the_actors_own_regions(key):
    results = _two_people_priors()
    results[key] = np.array([[1, 1, 21, 39]], np.float32)
    out = SelectActorPriors()(results)
    # person 0, its hand and the object beside it stay; person 1, its hand
    # and the far face go.
    assert out['prior_box_types'].tolist() == [[0, -1, 1, -1, 3, -1]]
    assert (out['prior_keypoints'][0, 0, :, 2] == 1).all()
    assert (out['prior_keypoints'][0, 1, :, 2] == 0).all()


def test_select_actor_priors_without_actors_keeps_nothing():
    out = SelectActorPriors()(_two_people_priors())
    assert (out['prior_box_types'] == -1).all()


def two_people_with_objects(path):
    """Saves one stored frame (0) of a 64 x 48 video: person 0 (slot 0) at
    the left with a hand (slot 2), person 1 (slot 1) at the right, a cup
    (COCO id 41, slot 3) linked to person 0's hand but lying far from
    person 0, and a bottle (39, slot 4) linked to person 1 but lying on
    person 0; keypoints and 3D poses of both persons."""
    keypoints = np.ones((1, 2, 17, 3), np.float32)
    keypoints3d = np.ones((1, 2, 17, 4), np.float32)
    keypoints3d[0, 1, :, :3] = 2
    save_priors(
        path,
        frame_inds=[0],
        timestamps=[0.],
        boxes=[[[0, 0, 20, 40], [40, 0, 60, 40], [15, 10, 20, 15],
                [50, 42, 56, 48], [8, 20, 12, 24]]],
        box_scores=np.ones((1, 5)),
        box_types=[[PERSON, PERSON, HAND, OBJECT, OBJECT]],
        box_person=[[0, 1, 0, -1, -1]],
        box_classes=[[0, 0, -1, 41, 39]],
        box_links=[[-1, -1, -1, 2, 1]],
        keypoints=keypoints,
        keypoint_layout='coco',
        keypoints3d=keypoints3d,
        keypoints3d_layout='h36m',
        video_size=(48, 64))


def test_load_and_select_priors_with_object_links(tmp_path):
    prior = str(tmp_path / 'objects.npz')
    two_people_with_objects(prior)
    results = LoadPriors(max_gap=1)(
        dict(frame_inds=np.array([0, 1, 5]), prior_file=prior))
    assert results['prior_box_classes'].tolist() == \
        [[0, 0, -1, 41, 39]] * 2 + [[-1] * 5]
    assert results['prior_box_links'].tolist() == \
        [[-1, -1, -1, 2, 1]] * 2 + [[-1] * 5]
    assert results['prior_keypoints3d'].shape == (3, 2, 17, 4)
    assert (results['prior_keypoints3d'][2] == 0).all()

    results['gt_bboxes'] = np.array([[1, 1, 21, 39]], np.float32)
    out = SelectActorPriors()(dict(results))
    # the cup follows the actor's hand it is linked to, though far from
    # the actor; the bottle follows person 1, though on the actor
    assert out['prior_box_types'][:2].tolist() == [[0, -1, 1, 3, -1]] * 2
    assert (out['prior_keypoints3d'][:2, 0, :, 3] == 1).all()
    assert (out['prior_keypoints3d'][:2, 1, :, 3] == 0).all()
    # without links the two objects go by position instead
    unlinked = dict(results, prior_box_links=np.full((3, 5), -1))
    assert SelectActorPriors()(unlinked)['prior_box_types'][0].tolist() == \
        [0, -1, 1, -1, 3]


def test_previous_format_loads_and_3d_poses_pack_and_pad(tmp_path):
    """A version-1 prior file (written as the previous save_priors did,
    without box_classes, box_links or 3D poses) next to a current one in a
    batch: both load, pack and pad."""
    current = str(tmp_path / 'current.npz')
    two_people_with_objects(current)
    previous = str(tmp_path / 'previous.npz')
    np.savez_compressed(
        previous,
        frame_inds=np.array([0], np.int64),
        timestamps=np.array([0.]),
        boxes=np.array([[[0, 0, 10, 10]] * 3], np.float32),
        box_scores=np.ones((1, 3), np.float32),
        box_types=np.zeros((1, 3), np.int8),
        box_person=np.array([[0, 1, 2]]),
        keypoints=np.ones((1, 3, 17, 3), np.float32),
        keypoint_layout=np.asarray('coco'),
        keypoint_flip_pairs=np.asarray(KEYPOINT_LAYOUTS['coco'].flip_pairs),
        video_size=np.array([48, 64]),
        meta=np.asarray('{}'))
    assert load_priors(previous)['format_version'] == 1
    pipeline = Compose([
        dict(type='LoadPriors', max_gap=0, keypoint_layout='coco'),
        dict(type='PackActionInputs')
    ])
    samples = [
        pipeline(
            dict(
                imgs=np.zeros((2, 48, 64, 3), np.uint8),
                frame_inds=np.arange(2),
                prior_file=path)) for path in (current, previous)
    ]
    old = samples[1]['data_samples'].priors
    assert 'keypoints3d' not in old
    assert old.types.tolist() == [[0, 0, 0], [-1, -1, -1]]
    preprocessor = ActionDataPreprocessor()
    out = preprocessor(
        dict(
            inputs=[s['inputs'] for s in samples],
            data_samples=[s['data_samples'] for s in samples]))
    new = out['data_samples'][0].priors
    # padded to the batch's 3 persons like its keypoints, score 0
    assert new.keypoints.shape == (2, 3, 17, 3)
    assert new.keypoints3d.shape == (2, 3, 17, 4)
    assert new.keypoints3d[0, :2, :, 3].eq(1).all()
    assert new.keypoints3d[:, 2].eq(0).all()
    assert new.keypoints3d[1].eq(0).all()  # frame 1: no stored priors
    assert new.types.shape == (2, 5)
