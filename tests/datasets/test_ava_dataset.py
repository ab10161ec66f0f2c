"""AVADataset on real-format AVA files written here."""
import pickle

import cv2
import decord
import numpy as np
import pytest

from mvitx.datasets import AVADataset
from mvitx.datasets.transforms import LoadAVAClip, PackActionInputs

LABELS = ('item {\n  name: "stand"\n  id: 1\n}\n'
          'item {\n  name: "sit"\n  id: 2\n}\n'
          'item {\n  name: "talk to"\n  id: 3\n}\n')


@pytest.fixture
def ava_root(tmp_path, make_video):
    """One 40-frame 10 fps movie ``vid1`` (as mp4 and as extracted PNG
    frames ``img_00001.png``...), CSVs, label map and proposals."""
    (tmp_path / 'videos').mkdir()
    video = make_video(tmp_path / 'videos' / 'vid1.mp4', 40, (64, 48), 10)
    frame_dir = tmp_path / 'frames' / 'vid1'
    frame_dir.mkdir(parents=True)
    frames = decord.VideoReader(video).get_batch(list(range(40))).asnumpy()
    for i, frame in enumerate(frames):
        cv2.imwrite(
            str(frame_dir / f'img_{i + 1:05d}.png'),
            cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    (tmp_path / 'labels.pbtxt').write_text(LABELS)
    # Second 1: person 0 stands and talks, person 1 sits. Second 2: one
    # person. Second 3: excluded.
    (tmp_path / 'train.csv').write_text('vid1,1,0.100,0.200,0.500,0.900,1,0\n'
                                        'vid1,1,0.100,0.200,0.500,0.900,3,0\n'
                                        'vid1,1,0.500,0.100,0.900,0.800,2,1\n'
                                        '\n'
                                        'vid1,2,0.250,0.250,0.750,0.750,2,0\n'
                                        'vid1,3,0.250,0.250,0.750,0.750,2,0\n')
    (tmp_path / 'excluded.csv').write_text('vid1,0003\n')
    proposals = {
        'vid1,0001':
        np.array([[0.1, 0.2, 0.5, 0.9, 0.95], [0.11, 0.2, 0.5, 0.9, 0.5],
                  [0.0, 0.0, 0.2, 0.2, 0.3]]),
        'vid1,0002':
        np.array([[0.2, 0.2, 0.7, 0.7, 0.4], [0.3, 0.3, 0.6, 0.6, 0.6]]),
    }
    with open(tmp_path / 'proposals.pkl', 'wb') as f:
        pickle.dump(proposals, f)
    return tmp_path


def make_dataset(root, backend='img', **kwargs):
    prefix = dict(img='frames') if backend == 'img' else dict(video='videos')
    return AVADataset(
        ann_file='train.csv',
        label_file='labels.pbtxt',
        exclude_file='excluded.csv',
        proposal_file='proposals.pkl',
        data_root=str(root),
        data_prefix=prefix,
        pipeline=[LoadAVAClip(clip_len=4, frame_interval=3)],
        num_classes=3,
        fps=10,
        timestamp_start=0,
        filename_tmpl='img_{:05d}.png',
        **kwargs)


def test_parsing_groups_actors_and_skips_exclusions(ava_root):
    ds = make_dataset(ava_root)
    assert len(ds) == 2
    assert ds.metainfo['classes'] == ('stand', 'sit', 'talk to')
    first = ds.get_data_info(0)
    assert (first['video_id'], first['timestamp']) == ('vid1', 1)
    assert first['keyframe_ind'] == 10
    assert first['total_frames'] == 40
    np.testing.assert_allclose(first['gt_bboxes_norm'],
                               [[.1, .2, .5, .9], [.5, .1, .9, .8]])
    np.testing.assert_array_equal(first['gt_labels'], [[1, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(first['entity_ids'], [0, 1])


def test_test_mode_proposals_and_train_matching(ava_root):
    ds = make_dataset(ava_root, test_mode=True)
    # Second 1: only the 0.95 proposal passes 0.9.
    np.testing.assert_allclose(ds.get_data_info(0)['proposal_scores'], [0.95])
    # Second 2: none passes, the best one is kept.
    np.testing.assert_allclose(
        ds.get_data_info(1)['proposals_norm'], [[0.3, 0.3, 0.6, 0.6]])
    ds = make_dataset(ava_root, train_with_proposals=True)
    info = ds.get_data_info(0)
    # Both proposals over person 0 (IoU >= 0.9) join with its labels.
    assert len(info['gt_bboxes_norm']) == 4
    np.testing.assert_array_equal(info['gt_labels'][2:], [[1, 0, 1]] * 2)
    assert len(ds.get_data_info(1)['gt_bboxes_norm']) == 1


def test_frame_and_video_backends_give_the_same_clip(ava_root):
    frames = make_dataset(ava_root, 'img')
    videos = make_dataset(ava_root, 'video')
    for i in range(2):
        a, b = frames[i], videos[i]
        np.testing.assert_array_equal(a['frame_inds'], b['frame_inds'])
        np.testing.assert_array_equal(a['imgs'], b['imgs'])
        np.testing.assert_allclose(a['gt_bboxes'], b['gt_bboxes'])
    clip = frames[0]
    # Keyframe 10, 4 frames every 3, centred: 4, 7, 10, 13.
    np.testing.assert_array_equal(clip['frame_inds'], [4, 7, 10, 13])
    assert clip['imgs'].shape == (4, 48, 64, 3)
    np.testing.assert_allclose(
        clip['gt_bboxes'][0], [6.4, 9.6, 32, 43.2], rtol=1e-5)
    packed = PackActionInputs(
        meta_keys=('video_id', 'timestamp', 'img_shape'))(
            videos[1])
    assert packed['inputs'].shape == (3, 4, 48, 64)
    sample = packed['data_samples']
    assert sample.metainfo['timestamp'] == 2
    assert sample.gt_instances.labels.shape == (1, 3)


def test_malformed_line_raises_with_file_and_line(ava_root):
    with open(ava_root / 'train.csv', 'a') as f:
        f.write('vid1,2,0.1,0.1,0.5\n')
    with pytest.raises(ValueError, match=r'train\.csv:7: expected 7 or 8'):
        make_dataset(ava_root)
    (ava_root / 'train.csv').write_text('vid1,2,0.1,0.1,0.5,0.5,9,0\n')
    with pytest.raises(ValueError, match=r'train\.csv:1: action id 9'):
        make_dataset(ava_root)
    (ava_root / 'train.csv').write_text('vid1,2,0.1,0.1,0.5,x,1,0\n')
    with pytest.raises(ValueError, match=r'train\.csv:1:'):
        make_dataset(ava_root)


def test_needs_one_backend_and_proposals_for_test(ava_root):
    with pytest.raises(ValueError, match='exactly one'):
        AVADataset(
            ann_file='train.csv',
            label_file='labels.pbtxt',
            pipeline=[],
            data_root=str(ava_root),
            data_prefix=dict(img='a', video='b'))
    with pytest.raises(ValueError, match='proposal_file'):
        AVADataset(
            ann_file='train.csv',
            label_file='labels.pbtxt',
            pipeline=[],
            data_root=str(ava_root),
            data_prefix=dict(img='frames'),
            num_classes=3,
            test_mode=True)


def test_prior_prefix_names_one_file_per_video(ava_root):
    ds = make_dataset(ava_root, prior_prefix='priors')
    assert ds.get_data_info(1)['prior_file'] == str(ava_root / 'priors' /
                                                    'vid1.npz')
    assert 'prior_file' not in make_dataset(ava_root).get_data_info(0)
