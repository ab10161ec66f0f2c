"""AVADataset on real-format AVA and AVA-Kinetics files written here."""
import contextlib
import logging
import os.path as osp
import pickle

import cv2
import decord
import numpy as np
import pytest
from mmengine.dataset import ConcatDataset
from mmengine.logging import MMLogger

from mvitx.datasets import AVADataset
from mvitx.datasets.demo import SCALES
from mvitx.datasets.demo.ava import (AVA_FPS, AVA_KINETICS_CLIPS,
                                     AVA_KINETICS_KEYFRAME, make_ava,
                                     make_ava_kinetics)
from mvitx.datasets.transforms import (BrokenInputError, LoadAVAClip,
                                       PackActionInputs)
from mvitx.registry import DATASETS
from mvitx.utils import load_config, register_all_modules
from tests.helpers import ROOT

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
    with pytest.raises(ValueError, match=r'train\.csv:7: expected 2, 7 or 8'):
        make_dataset(ava_root)
    (ava_root / 'train.csv').write_text('vid1,2,0.1,0.1,0.5,0.5,9,0\n')
    with pytest.raises(ValueError, match=r'train\.csv:1: action id 9'):
        make_dataset(ava_root)
    (ava_root / 'train.csv').write_text('vid1,2,0.1,0.1,0.5,x,1,0\n')
    with pytest.raises(ValueError, match=r'train\.csv:1:'):
        make_dataset(ava_root)
    # AVA keyframes are whole seconds (fractions: AVA-Kinetics).
    (ava_root / 'train.csv').write_text('vid1,1.5,0.1,0.1,0.5,0.5,1,0\n')
    with pytest.raises(
            ValueError, match=r"train\.csv:1: timestamp '1\.5' is not whole"):
        make_dataset(ava_root)


def test_two_column_rows_out_of_training_in_test(ava_root):
    """A keyframe without actors (``video_id,timestamp``) gives no training
    sample, and a test sample without boxes whose clip loads."""
    with open(ava_root / 'train.csv', 'a') as f:
        f.write('vid1,0002\nvid1,0003\nvid1,0000\n')
    with log_records() as records:
        train = make_dataset(ava_root)
    # 0002 also has actors; 0003 is excluded; 0000 is left out.
    assert [i['timestamp'] for i in train] == [1, 2]
    assert len(train[1]['gt_bboxes']) == 1
    assert any(
        r.getMessage().endswith('train.csv: 1 keyframe(s) without actors left '
                                'out of training') for r in records)
    test = make_dataset(ava_root, test_mode=True)
    assert [test.get_data_info(i)['timestamp'] for i in range(3)] == [1, 2, 0]
    empty = test[2]
    assert empty['gt_bboxes'].shape == (0, 4)
    np.testing.assert_array_equal(empty['frame_inds'], [0, 0, 0, 3])
    np.testing.assert_allclose(empty['proposals'], [[0, 0, 64, 48]])


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


def test_proposal_forms(ava_root):
    # (N, 4) boxes get score 1, an empty value is no proposal, and a box
    # within 0.01 outside the frame is clipped into it.
    with open(ava_root / 'proposals.pkl', 'wb') as f:
        pickle.dump(
            {
                'vid1,1': [[0.1, 0.2, 0.5, 1.005]],
                'vid1,0002': np.zeros((0, 5))
            }, f)
    ds = make_dataset(ava_root, test_mode=True)
    info = ds.get_data_info(0)
    np.testing.assert_allclose(info['proposals_norm'], [[0.1, 0.2, 0.5, 1]])
    np.testing.assert_allclose(info['proposal_scores'], [1])
    # No proposal: the whole frame.
    np.testing.assert_allclose(
        ds.get_data_info(1)['proposals_norm'], [[0, 0, 1, 1]])


def test_label_map_ids_beyond_num_classes(ava_root):
    with pytest.raises(
            ValueError,
            match=r'labels\.pbtxt: class id 3 is '
            r'outside \[1, num_classes=2\]'):
        AVADataset(
            ann_file='train.csv',
            label_file='labels.pbtxt',
            pipeline=[],
            data_root=str(ava_root),
            num_classes=2)


def test_unreadable_frame_is_skipped_in_training_raises_in_test(ava_root):
    # Frame 11 is in the clip of the first keyframe only (frames 4-13).
    frame = ava_root / 'frames' / 'vid1' / 'img_00011.png'
    frame.write_bytes(frame.read_bytes()[:100])
    with pytest.raises(BrokenInputError, match=f'cannot load {frame}'):
        make_dataset(ava_root, test_mode=True)[0]
    ds = make_dataset(ava_root)
    assert ds[0]['timestamp'] == 2
    assert ds.broken_indices == {0}


def test_missing_frame_folder_is_a_broken_video(ava_root):
    (ava_root / 'frames' / 'vid1').rename(ava_root / 'moved')
    ds = make_dataset(ava_root, test_mode=True)
    assert ds.get_data_info(0)['total_frames'] == 0
    with pytest.raises(
            BrokenInputError,
            match=f'cannot load {ava_root}/frames/vid1: missing or empty'):
        ds[0]


@contextlib.contextmanager
def log_records():
    """The records of mmengine's current logger while the block runs."""
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


#: AVA-Kinetics rows (``kinetics_{train,val}_v1.0.csv``): YouTube id,
#: second of the YouTube video with microseconds, box, action; no person id.
KINETICS_ROWS = ('a_b-C,12.500000,0.100,0.200,0.500,0.900,1\n'
                 'a_b-C,12.500000,0.100,0.200,0.500,0.900,3\n'
                 'a_b-C,13.900000,0.200,0.200,0.600,0.600,2\n'
                 'zzz,2.000000\n'
                 'nope,5.000000,0.100,0.100,0.500,0.500,1\n')


@pytest.fixture
def kinetics_root(tmp_path, make_video):
    """Kinetics-700 style clips in class folders: ``a_b-C`` (an id with
    an underscore) seconds 10-14 at 10 fps and 12-16 at 5 fps, ``zzz``
    seconds 0-4; the annotations ask for one more id without a clip."""
    (tmp_path / 'k700' / 'cls x').mkdir(parents=True)
    (tmp_path / 'k700' / 'cls y' / 'deeper').mkdir(parents=True)
    make_video(tmp_path / 'k700' / 'cls x' / 'a_b-C_000010_000014.mp4', 40,
               (64, 48), 10)
    make_video(
        tmp_path / 'k700' / 'cls y' / 'deeper' / 'a_b-C_000012_000016.mp4', 20,
        (64, 48), 5)
    make_video(tmp_path / 'k700' / 'cls y' / 'zzz_000000_000004.mp4', 40,
               (64, 48), 10)
    (tmp_path / 'k700' / 'cls x' / 'notes.txt').write_text('not a clip')
    (tmp_path / 'labels.pbtxt').write_text(LABELS)
    (tmp_path / 'kinetics_train.csv').write_text(KINETICS_ROWS)
    # Keyed by the whole second, as mmaction2's fetch_proposal.py does.
    with open(tmp_path / 'proposals.pkl', 'wb') as f:
        pickle.dump({'a_b-C,0012': np.array([[0.1, 0.2, 0.5, 0.9, 0.95]])}, f)
    return tmp_path


def make_kinetics(root, **kwargs):
    return AVADataset(
        ann_file='kinetics_train.csv',
        label_file='labels.pbtxt',
        data_root=str(root),
        data_prefix=dict(video='k700'),
        kinetics_clips=True,
        pipeline=[LoadAVAClip(clip_len=4, frame_interval=3)],
        num_classes=3,
        **kwargs)


def test_kinetics_clips_load(kinetics_root):
    with log_records() as records:
        ds = make_kinetics(kinetics_root, fps=10)
    # zzz has no actors (left out of training), nope no clip (warned).
    assert [(i['video_id'], i['timestamp']) for i in ds] == [('a_b-C', 12.5),
                                                             ('a_b-C', 13.9)]
    first, second = ds.get_data_info(0), ds.get_data_info(1)
    # 12.5 s: 2.5 s into the 10-14 clip (1.5 s to its end; the 12-16 clip
    # has 0.5 s before), frame 25 at 10 fps.
    assert first['filename'] == str(kinetics_root / 'k700' / 'cls x' /
                                    'a_b-C_000010_000014.mp4')
    assert first['keyframe_sec'] == pytest.approx(2.5)
    assert first['keyframe_ind'] == 25
    np.testing.assert_allclose(first['gt_bboxes_norm'], [[.1, .2, .5, .9]])
    np.testing.assert_array_equal(first['gt_labels'], [[1, 0, 1]])
    np.testing.assert_array_equal(first['entity_ids'], [-1])
    # 13.9 s: the 12-16 clip has more time around it (1.9 s / 2.1 s).
    assert second['filename'].endswith('deeper/a_b-C_000012_000016.mp4')
    assert second['keyframe_sec'] == pytest.approx(1.9)
    warnings = [r.getMessage() for r in records if r.levelno >= 30]
    assert len(warnings) == 1
    assert ('1 of 4 keyframes have no clip {youtube_id}_{start:06d}_'
            '{end:06d}.mp4 covering them under ' in warnings[0])
    assert 'kinetics_train.csv:5 nope at 5.0 s; left out of training' in (
        warnings[0])
    # The same loader as AVA movies: the clip's frames around frame 25.
    clip = ds[0]
    np.testing.assert_array_equal(clip['frame_inds'], [19, 22, 25, 28])
    expected = decord.VideoReader(first['filename']).get_batch(
        [19, 22, 25, 28]).asnumpy()
    np.testing.assert_array_equal(clip['imgs'], expected)
    np.testing.assert_allclose(
        clip['gt_bboxes'], [[6.4, 9.6, 32, 43.2]], rtol=1e-5)
    sample = PackActionInputs(meta_keys=('video_id',
                                         'timestamp'))(ds[0])['data_samples']
    assert sample.metainfo['timestamp'] == 12.5


def test_kinetics_priors_are_named_by_clip(kinetics_root):
    ds = make_kinetics(kinetics_root, prior_prefix='priors')
    assert ds.get_data_info(1)['prior_file'] == str(kinetics_root / 'priors' /
                                                    'a_b-C_000012_000016.npz')


def test_kinetics_clips_at_their_own_frame_rate(kinetics_root):
    """fps=None: 1.9 s into the 5 fps clip is its frame 10 (19 at 30 fps
    would be past its 20 frames)."""
    ds = make_kinetics(kinetics_root, fps=None)
    assert ds.get_data_info(1)['keyframe_ind'] is None
    np.testing.assert_array_equal(ds[1]['frame_inds'], [4, 7, 10, 13])
    np.testing.assert_array_equal(ds[0]['frame_inds'], [19, 22, 25, 28])
    with pytest.raises(ValueError, match='need videos'):
        AVADataset(
            ann_file='kinetics_train.csv',
            label_file='labels.pbtxt',
            data_root=str(kinetics_root),
            data_prefix=dict(img='k700'),
            kinetics_clips=True,
            pipeline=[])


def test_kinetics_test_mode(kinetics_root):
    # A keyframe without its clip cannot be evaluated: an error.
    with pytest.raises(
            FileNotFoundError,
            match=r'1 of 4 keyframes have no clip .* the first: '
            r'.*kinetics_train\.csv:5 nope at 5\.0 s'):
        make_kinetics(
            kinetics_root, proposal_file='proposals.pkl', test_mode=True)
    (kinetics_root / 'kinetics_train.csv').write_text(
        KINETICS_ROWS.replace('nope,5.0', 'zzz,3.0'))
    ds = make_kinetics(
        kinetics_root, proposal_file='proposals.pkl', test_mode=True)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [(i['video_id'], i['timestamp'])
            for i in infos] == [('a_b-C', 12.5), ('a_b-C', 13.9), ('zzz', 2.0),
                                ('zzz', 3.0)]
    # Proposals by the whole second: 12.5 and 13.9 are in 0012 and 0013.
    np.testing.assert_allclose(infos[0]['proposal_scores'], [0.95])
    np.testing.assert_allclose(infos[1]['proposals_norm'], [[0, 0, 1, 1]])
    # The keyframe without actors is a test sample without boxes.
    assert infos[2]['gt_bboxes_norm'].shape == (0, 4)
    assert ds[2]['imgs'].shape == (4, 48, 64, 3)


@pytest.mark.parametrize(
    'row,error', [('a_b-C,12.5,0.1,0.2,0.5\n', 'expected 2, 7 or 8 columns'),
                  ('a_b-C,soon,0.1,0.2,0.5,0.9,1\n', 'could not convert'),
                  ('a_b-C,inf\n', "timestamp 'inf' is not a finite number"),
                  ('a_b-C,12.5,0.5,0.2,0.1,0.9,1\n',
                   r'box \(0\.5, 0\.2, 0\.1, 0\.9\) is not a normalised'),
                  ('a_b-C,12.5,0.1,0.2,0.5,0.9,4\n', 'action id 4 outside'),
                  ('a_b-C,12.5,0.1,0.2,0.5,0.9,one\n', 'invalid literal')])
def test_malformed_kinetics_rows_name_file_and_line(kinetics_root, row, error):
    with open(kinetics_root / 'kinetics_train.csv', 'a') as f:
        f.write(row)
    with pytest.raises(ValueError, match=rf'kinetics_train\.csv:6: {error}'):
        make_kinetics(kinetics_root)


def test_demo_ava_kinetics_part_with_the_recipe_structure(tmp_path):
    """The demo data's AVA-Kinetics part loads, mixed with its AVA movies
    in the ConcatDataset of configs/ava/mvit_s_k400_avakinetics.py (paths
    and frame rate of the demo)."""
    register_all_modules()
    root = str(tmp_path / 'ava')
    make_ava(root, 0, SCALES['tiny'])
    make_ava_kinetics(root, 0)
    cfg = load_config(
        osp.join(ROOT, 'configs', 'ava', 'mvit_s_k400_avakinetics.py'))
    ava, kinetics = cfg.train_dataloader.dataset.datasets
    common = dict(
        data_root=root,
        label_file='annotations/ava_action_list_demo.pbtxt',
        num_classes=6,
        pipeline=[dict(type='LoadAVAClip', clip_len=4, frame_interval=2)])
    ava.update(
        common,
        ann_file='annotations/ava_train_demo.csv',
        exclude_file=None,
        proposal_file='annotations/ava_dense_proposals_train_demo.pkl',
        fps=AVA_FPS,
        timestamp_start=0)
    # Assigned, not merged: the recipe reads AVA frames.
    ava.data_prefix = dict(video='videos')
    kinetics.update(
        common,
        data_prefix=dict(video='kinetics/videos'),
        ann_file='kinetics/annotations/kinetics_train_demo.csv')
    mixed = DATASETS.build(cfg.train_dataloader.dataset)
    assert isinstance(mixed, ConcatDataset)
    movies = mixed.datasets[0]
    # One training keyframe per clip with actors (the last has none).
    assert len(mixed) == len(movies) + AVA_KINETICS_CLIPS['train'] - 1
    for index in range(len(movies), len(mixed)):
        sample = mixed[index]
        assert sample['filename'].startswith(
            osp.join(root, 'kinetics', 'videos', 'train'))
        assert sample['keyframe_ind'] == AVA_KINETICS_KEYFRAME * 10
        assert sample['imgs'].shape == (4, 64, 96, 3)
        assert len(sample['gt_bboxes']) >= 1
        assert sample['timestamp'] % 1 > 0  # not whole seconds
    assert mixed[0]['imgs'].shape == (4, 64, 96, 3)
    # The validation part keeps its keyframe without actors in test mode.
    kinetics.update(
        ann_file='kinetics/annotations/kinetics_val_demo.csv',
        proposal_file='kinetics/annotations/'
        'kinetics_dense_proposals_val_demo.pkl',
        test_mode=True)
    val = DATASETS.build(kinetics)
    assert len(val) == AVA_KINETICS_CLIPS['val']
    assert len(val.get_data_info(len(val) - 1)['gt_bboxes_norm']) == 0
