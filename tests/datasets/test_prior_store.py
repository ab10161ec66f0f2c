import json
import os

import numpy as np
import pytest

from mvitx.datasets.prior_store import (KEYPOINT_LAYOUTS, PriorFileError,
                                        align_priors, load_priors, prior_meta,
                                        save_priors)


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
    assert priors['box_person'].shape == (3, 2)
    assert (priors['box_person'] == -1).all()
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


@pytest.mark.parametrize('change, message', [
    (dict(boxes=np.zeros((3, 2, 5))), 'boxes must be'),
    (dict(box_types=np.full((3, 2), 7)), 'unknown ids'),
    (dict(frame_inds=[0, 4, 4]), 'strictly increasing'),
    (dict(keypoints=np.zeros((3, 1, 16, 3))), 'has 17 keypoints'),
    (dict(keypoint_layout='mpii'), 'unknown keypoint_layout'),
    (dict(box_scores=np.zeros((3, 1))), 'box_scores must be'),
    (dict(bogus=1), 'unknown fields'),
    (dict(keypoint_flip_pairs=[(0, 17)]), 'keypoint_flip_pairs'),
])
def test_invalid_fields_name_the_file(tmp_path, change, message):
    path = str(tmp_path / 'bad.npz')
    fields = {**make_fields(), **change}
    with pytest.raises(PriorFileError, match=message) as err:
        save_priors(path, **fields)
    assert path in str(err.value)
    assert not os.listdir(tmp_path)


def test_missing_field_and_broken_file(tmp_path):
    fields = make_fields()
    del fields['timestamps']
    with pytest.raises(PriorFileError, match=r"missing fields \['timest"):
        save_priors(str(tmp_path / 'a.npz'), **fields)
    broken = tmp_path / 'broken.npz'
    broken.write_bytes(b'not a zip')
    with pytest.raises(PriorFileError, match='broken.npz'):
        load_priors(str(broken))
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
