import json
import os

import numpy as np
import pytest

from mvitx.datasets.prior_store import (FORMAT_VERSION, KEYPOINT_LAYOUTS,
                                        PriorFileError, align_priors,
                                        load_priors, prior_meta, save_priors)
from mvitx.structures import HAND, OBJECT


def make_fields(num_frames=3, num_boxes=2, num_persons=1, layout='coco'):
    """Valid prior fields: frame f has a person box at x = 10 * f."""
    k = KEYPOINT_LAYOUTS[layout].num_keypoints or 5
    boxes = np.zeros((num_frames, num_boxes, 4), np.float32)
    types = np.full((num_frames, num_boxes), -1, np.int8)
    for f in range(num_frames):
        boxes[f, 0] = [10 * f, 5, 10 * f + 20, 40]
        types[f, 0] = 0
    keypoints = np.zeros((num_frames, num_persons, k, 3), np.float32)
    keypoints[:, :, :, 0] = (10 * np.arange(num_frames) + 10)[:, None, None]
    keypoints[..., 1] = 20
    keypoints[..., 2] = 0.9
    return dict(
        frame_inds=np.arange(num_frames) * 4,
        timestamps=np.arange(num_frames) * 4 / 25.,
        boxes=boxes,
        box_scores=(types >= 0).astype(np.float32),
        box_types=types,
        keypoints=keypoints,
        keypoint_layout=layout,
        video_size=(48, 64))


def test_round_trip_fills_defaults(tmp_path):
    path = tmp_path / 'sub' / 'vid.npz'
    fields = make_fields()
    save_priors(str(path), meta=dict(fps=25.0), **fields)
    assert os.listdir(tmp_path / 'sub') == ['vid.npz']
    priors = load_priors(str(path))
    for key in ('frame_inds', 'timestamps', 'boxes', 'box_scores', 'box_types',
                'keypoints', 'video_size'):
        np.testing.assert_array_equal(priors[key], np.asarray(fields[key]))
    assert priors['boxes'].dtype == np.float32
    assert priors['box_types'].dtype == np.int8
    assert priors['keypoint_layout'] == 'coco'
    assert priors['format_version'] == FORMAT_VERSION == 2
    for key in ('box_person', 'box_classes', 'box_links'):
        assert priors[key].shape == (3, 2)
        assert priors[key].dtype == np.int64
        assert (priors[key] == -1).all()
    assert 'keypoints3d' not in priors and 'keypoints3d_layout' not in priors
    assert sorted(map(tuple, priors['keypoint_flip_pairs'].tolist())) == \
        sorted(KEYPOINT_LAYOUTS['coco'].flip_pairs)
    assert prior_meta(priors) == {'fps': 25.0}
    # numpy alone reads it, without pickles
    with np.load(path, allow_pickle=False) as raw:
        assert json.loads(str(raw['meta'])) == {'fps': 25.0}


def test_demo_layout_keeps_its_own_flip_pairs(tmp_path):
    path = str(tmp_path / 'demo.npz')
    save_priors(
        path, keypoint_flip_pairs=[(1, 2)], **make_fields(layout='demo'))
    priors = load_priors(path)
    assert priors['keypoints'].shape[2] == 5
    assert priors['keypoint_flip_pairs'].tolist() == [[1, 2]]


# make_fields: slot 0 is a person box, slot 1 an empty slot in every frame
@pytest.mark.parametrize('change, message', [
    (dict(boxes=np.zeros((3, 2, 5))), 'boxes must be'),
    (dict(box_types=np.full((3, 2), 7)), 'unknown ids'),
    (dict(frame_inds=[0, 4, 4]), 'strictly increasing'),
    (dict(keypoints=np.zeros((3, 1, 16, 3))), 'has 17 keypoints'),
    (dict(keypoint_layout='mpii'), 'unknown keypoint_layout'),
    (dict(box_scores=np.zeros((3, 1))), 'box_scores must be'),
    (dict(bogus=1), 'unknown fields'),
    (dict(keypoint_flip_pairs=[(0, 17)]), 'keypoint_flip_pairs'),
    (dict(box_scores=np.full((3, 2), np.nan)), r'box_scores\[0, 0\] is nan'),
    (dict(keypoints=np.full((3, 1, 17, 3), np.inf)), 'keypoints.* is inf'),
    (dict(box_classes=np.full((3, 2), -2)), 'box_classes must be >= -1'),
    (dict(box_classes=np.zeros((3, 3))), 'box_classes must be'),
    (dict(box_links=[[0, -1]] * 3), r'box_links\[0, 0\] is 0'),
    (dict(box_links=[[-1, -1], [1, -1], [-1, -1]]), r'box_links\[1, 0\]'),
    (dict(box_links=[[-1, 2]] * 3), r'box_links\[0, 1\] is 2'),
    (dict(box_links=[[-1, -3]] * 3), r'box_links\[0, 1\] is -3'),
    (dict(keypoints3d=np.zeros((3, 1, 17, 4))), 'go together'),
    (dict(keypoints3d=np.zeros((3, 2, 17, 4)),
          keypoints3d_layout='h36m'), r'keypoints3d must be \(3, 1, 17, 4\)'),
    (dict(keypoints3d=np.zeros((3, 1, 17, 4)),
          keypoints3d_layout='smpl'), 'unknown keypoints3d_layout'),
    (dict(
        keypoints3d=np.full((3, 1, 17, 4), np.nan),
        keypoints3d_layout='h36m'), r'keypoints3d\[0, 0, 0, 0\] is nan'),
])
def test_invalid_fields_name_the_file(tmp_path, change, message):
    path = str(tmp_path / 'bad.npz')
    fields = {**make_fields(), **change}
    with pytest.raises(PriorFileError, match=message) as err:
        save_priors(path, **fields)
    assert path in str(err.value)
    assert not os.listdir(tmp_path)


def test_missing_field_and_missing_file(tmp_path):
    # Malformed files on disk: tests/faults/test_ava_priors.py.
    fields = make_fields()
    del fields['timestamps']
    with pytest.raises(PriorFileError, match=r"missing fields \['timest"):
        save_priors(str(tmp_path / 'a.npz'), **fields)
    with pytest.raises(FileNotFoundError):
        load_priors(str(tmp_path / 'none.npz'))


def test_interrupted_write_keeps_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / 'vid.npz')
    save_priors(path, **make_fields(num_frames=3))

    def killed_midway(f, **arrays):
        f.write(b'PK\x03\x04 half an archive')
        raise KeyboardInterrupt

    monkeypatch.setattr(np, 'savez_compressed', killed_midway)
    with pytest.raises(KeyboardInterrupt):
        save_priors(path, **make_fields(num_frames=5))
    # the finished file is untouched and no partial file is left behind
    assert load_priors(path)['boxes'].shape == (3, 2, 4)
    assert os.listdir(tmp_path) == ['vid.npz']
    with pytest.raises(KeyboardInterrupt):
        save_priors(str(tmp_path / 'new.npz'), **make_fields())
    assert os.listdir(tmp_path) == ['vid.npz']


def test_align_nearest_within_gap_and_rescale(tmp_path):
    path = str(tmp_path / 'vid.npz')
    save_priors(path, **make_fields())  # stored frames 0, 4, 8
    priors = load_priors(path)
    aligned = align_priors(priors, np.array([0, 1, 2, 3, 7, 9, 12, 20]), 2)
    assert aligned['source_frame'].tolist() == [0, 0, 0, 4, 8, 8, -1, -1]
    assert aligned['boxes'].shape == (8, 2, 4)
    np.testing.assert_array_equal(aligned['boxes'][3, 0], [10, 5, 30, 40])
    assert (aligned['box_types'][6:] == -1).all()
    assert (aligned['boxes'][6:] == 0).all()
    assert (aligned['keypoints'][6:, ..., 2] == 0).all()
    assert (aligned['keypoints'][4, ..., 0] == 30).all()

    half = align_priors(priors, np.array([4]), 0, frame_size=(24, 128))
    np.testing.assert_allclose(half['boxes'][0, 0], [20, 2.5, 60, 20])
    np.testing.assert_allclose(half['keypoints'][0, 0, :, :2],
                               np.tile([40, 10], (17, 1)))
    np.testing.assert_allclose(half['keypoints'][0, 0, :, 2], 0.9)


def test_align_without_stored_frames(tmp_path):
    path = str(tmp_path / 'empty.npz')
    save_priors(path, **make_fields(num_frames=0))
    aligned = align_priors(load_priors(path), np.arange(4), 100)
    assert aligned['boxes'].shape == (4, 2, 4)
    assert (aligned['box_types'] == -1).all()
    assert (aligned['source_frame'] == -1).all()


def objects_and_3d_fields():
    """Frame f: person 0 at x = 10 * f (slot 0), a hand (slot 1) and a cup
    (COCO id 41, slot 2) linked to the hand; frame 1 also a bottle (39,
    slot 3) linked to the person; 3D poses of the person."""
    fields = make_fields(num_boxes=4)
    fields['boxes'][:, 1] = [12, 20, 18, 26]
    fields['boxes'][:, 2:] = [14, 22, 20, 30]
    fields['box_types'][:, 1:3] = [HAND, OBJECT]
    fields['box_types'][1, 3] = OBJECT
    classes = np.full((3, 4), -1)
    classes[:, 0], classes[:, 2], classes[1, 3] = 0, 41, 39
    links = np.full((3, 4), -1)
    links[:, 2], links[1, 3] = 1, 0
    kpts3d = np.random.default_rng(0).normal(size=(3, 1, 17, 4))
    return dict(
        fields,
        box_scores=np.ones((3, 4), np.float32),
        box_classes=classes,
        box_links=links,
        keypoints3d=kpts3d.astype(np.float32),
        keypoints3d_layout='h36m')


def test_classes_links_and_3d_poses_round_trip_and_align(tmp_path):
    path = str(tmp_path / 'vid.npz')
    fields = objects_and_3d_fields()
    save_priors(path, **fields)
    priors = load_priors(path)
    for key in ('box_classes', 'box_links', 'keypoints3d'):
        np.testing.assert_array_equal(priors[key], fields[key])
    assert priors['keypoints3d'].dtype == np.float32
    assert priors['keypoints3d_layout'] == 'h36m'

    # stored frames 0, 4, 8; frame 20 is beyond the gap; half size
    aligned = align_priors(
        priors, np.array([4, 8, 20]), 2, frame_size=(24, 32))
    np.testing.assert_array_equal(aligned['box_classes'][:2],
                                  fields['box_classes'][1:])
    np.testing.assert_array_equal(aligned['box_links'][:2],
                                  fields['box_links'][1:])
    assert (aligned['box_classes'][2] == -1).all()
    assert (aligned['box_links'][2] == -1).all()
    # 3D poses are not in pixels: not rescaled
    np.testing.assert_array_equal(aligned['keypoints3d'][:2],
                                  fields['keypoints3d'][1:])
    assert (aligned['keypoints3d'][2] == 0).all()
    np.testing.assert_allclose(aligned['boxes'][0, 2], [7, 11, 10, 15])


def test_previous_format_version_still_loads(tmp_path):
    """A file written by the previous version's save_priors (version 1: no
    format_version, box_classes, box_links or 3D poses)."""
    fields = make_fields()
    old = str(tmp_path / 'v1.npz')
    np.savez_compressed(
        old,
        frame_inds=np.asarray(fields['frame_inds'], np.int64),
        timestamps=np.asarray(fields['timestamps'], np.float64),
        boxes=fields['boxes'],
        box_scores=fields['box_scores'],
        box_types=fields['box_types'],
        box_person=np.where(fields['box_types'] >= 0, 0, -1),
        keypoints=fields['keypoints'],
        keypoint_layout=np.asarray('coco'),
        keypoint_flip_pairs=np.asarray(KEYPOINT_LAYOUTS['coco'].flip_pairs),
        video_size=np.asarray((48, 64), np.int64),
        meta=np.asarray('{"fps": 25.0}'))
    priors = load_priors(old)
    assert priors['format_version'] == 1
    assert (priors['box_classes'] == -1).all()
    assert (priors['box_links'] == -1).all()
    assert 'keypoints3d' not in priors
    np.testing.assert_array_equal(priors['boxes'], fields['boxes'])
    assert priors['box_person'][:, 0].tolist() == [0, 0, 0]
    aligned = align_priors(priors, np.array([0, 4]), 0)
    assert (aligned['box_links'] == -1).all()
    assert 'keypoints3d' not in aligned

    # saving it again writes the current version
    new = str(tmp_path / 'v2.npz')
    save_priors(new, **priors)
    assert load_priors(new)['format_version'] == FORMAT_VERSION

    newer = str(tmp_path / 'v3.npz')
    with np.load(old) as data:
        np.savez(newer, format_version=FORMAT_VERSION + 1, **data)
    with pytest.raises(PriorFileError, match='v3.npz.*format_version 3'):
        load_priors(newer)
