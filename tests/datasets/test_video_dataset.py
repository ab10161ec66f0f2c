import numpy as np
import pytest

from mvitx.datasets import VideoDataset
from mvitx.utils import register_all_modules

PIPELINE = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=4, frame_interval=2),
    dict(type='DecordDecode'),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='PackActionInputs'),
]


@pytest.fixture(autouse=True)
def _registered():
    register_all_modules()


def test_list_file_with_class_names_and_priors(tmp_path, make_video):
    (tmp_path / 'videos' / 'sub dir').mkdir(parents=True)
    make_video(tmp_path / 'videos' / 'a.mp4')
    make_video(tmp_path / 'videos' / 'sub dir' / 'b c.mp4', num_frames=30)
    (tmp_path / 'train.txt').write_text('a.mp4 1\n"sub dir/b c.mp4" jump\n\n')
    (tmp_path / 'classes.txt').write_text('run\njump\n')
    dataset = VideoDataset(
        ann_file='train.txt',
        pipeline=PIPELINE,
        data_root=str(tmp_path),
        data_prefix=dict(video='videos'),
        classes=str(tmp_path / 'classes.txt'),
        source='demo_k',
        prior_prefix='priors')
    assert len(dataset) == 2
    assert dataset.metainfo['classes'] == ('run', 'jump')
    info = dataset.get_data_info(1)
    assert info['filename'] == str(tmp_path / 'videos' / 'sub dir' / 'b c.mp4')
    assert info['label'] == 1 and info['source'] == 'demo_k'
    assert info['modality'] == 'video'
    assert info['prior_file'] == str(tmp_path / 'priors' / 'b c.npz')
    packed = dataset[1]
    assert packed['inputs'].shape == (3, 4, 32, 32)
    sample = packed['data_samples']
    assert sample.gt_label.tolist() == [1] and sample.source == 'demo_k'
    assert np.all(np.diff(sample.frame_inds) == 2)
    assert sample.frame_inds.max() < 30


def test_kinetics_csv(tmp_path):
    (tmp_path / 'train.csv').write_text(
        'label,youtube_id,time_start,time_end,split\n'
        'zumba,abc,10,20,train\n'
        '"passing American football (in game)",x-y_z,0,10,train\n')
    dataset = VideoDataset(
        ann_file=str(tmp_path / 'train.csv'),
        pipeline=[],
        classes=str(tmp_path / 'train.csv'),
        data_prefix=dict(video='k400/train'))
    assert dataset.metainfo['classes'] == (
        'passing American football (in game)', 'zumba')
    first, second = dataset.get_data_info(0), dataset.get_data_info(1)
    assert first['filename'] == 'k400/train/abc_000010_000020.mp4'
    assert first['label'] == 1 and first['source'] == 'k400'
    assert second['filename'] == 'k400/train/x-y_z_000000_000010.mp4'
    assert second['label'] == 0
    (tmp_path / 'test.csv'
     ).write_text('youtube_id,time_start,time_end,split\nq,5,15,test\n')
    test = VideoDataset(
        ann_file=str(tmp_path / 'test.csv'), pipeline=[], test_mode=True)
    assert test.get_data_info(0)['label'] == -1
    with pytest.raises(ValueError, match=r'test.csv: no labels.*test_mode'):
        VideoDataset(ann_file=str(tmp_path / 'test.csv'), pipeline=[])


def test_class_list_relative_to_data_root_and_checked(tmp_path):
    (tmp_path / 'l.txt').write_text('a.mp4 0\nb.mp4 1\n')
    (tmp_path / 'names.txt').write_text('run\njump\n')
    dataset = VideoDataset(
        ann_file='l.txt',
        pipeline=[],
        data_root=str(tmp_path),
        classes='names.txt',
        num_classes=2)
    assert dataset.metainfo['classes'] == ('run', 'jump')
    with pytest.raises(ValueError, match='names.txt: 2 .* num_classes=3'):
        VideoDataset(
            ann_file='l.txt',
            pipeline=[],
            data_root=str(tmp_path),
            classes='names.txt',
            num_classes=3)
    (tmp_path / 'names.txt').write_text('run\njump\nrun\n')
    with pytest.raises(ValueError, match=r'names.txt:3: class .run. repeated'):
        VideoDataset(
            ann_file='l.txt',
            pipeline=[],
            data_root=str(tmp_path),
            classes='names.txt')
    with pytest.raises(FileNotFoundError, match='Class list .*nope.txt'):
        VideoDataset(
            ann_file='l.txt',
            pipeline=[],
            data_root=str(tmp_path),
            classes='nope.txt')


def test_list_file_without_labels_is_a_test_split(tmp_path):
    (tmp_path / 'l.txt').write_text('a.mp4\n"b c.mp4"\n')
    dataset = VideoDataset(
        ann_file=str(tmp_path / 'l.txt'), pipeline=[], test_mode=True)
    assert [dataset.get_data_info(i)['label'] for i in range(2)] == [-1, -1]
    assert dataset.get_data_info(1)['filename'] == 'b c.mp4'
    (tmp_path / 'mixed.txt').write_text('a.mp4 0\nb.mp4\n')
    with pytest.raises(ValueError, match='mixed.txt:2: .* has a label'):
        VideoDataset(
            ann_file=str(tmp_path / 'mixed.txt'), pipeline=[], test_mode=True)
    (tmp_path / 'open.txt').write_text('"a.mp4 0\n')
    with pytest.raises(ValueError, match=r'open.txt:1: No closing quotation'):
        VideoDataset(ann_file=str(tmp_path / 'open.txt'), pipeline=[])


def test_samples_per_class_keeps_the_first_of_each_class(tmp_path):
    (tmp_path / 'l.txt'
     ).write_text('a.mp4 0\nb.mp4 1\nc.mp4 0\nd.mp4 0\ne.mp4 1\nf.mp4 2\n')
    dataset = VideoDataset(
        ann_file=str(tmp_path / 'l.txt'), pipeline=[], samples_per_class=2)
    assert [dataset.get_data_info(i)['filename'] for i in range(len(dataset))
            ] == ['a.mp4', 'b.mp4', 'c.mp4', 'e.mp4', 'f.mp4']
    full = VideoDataset(ann_file=str(tmp_path / 'l.txt'), pipeline=[])
    assert len(full) == 6
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match='samples_per_class must be'):
            VideoDataset(
                ann_file=str(tmp_path / 'l.txt'),
                pipeline=[],
                samples_per_class=bad)
    (tmp_path / 'test.txt').write_text('a.mp4\nb.mp4\n')
    with pytest.raises(ValueError, match='test.txt: .* sample 0 has no'):
        VideoDataset(
            ann_file=str(tmp_path / 'test.txt'),
            pipeline=[],
            test_mode=True,
            samples_per_class=1)


def test_unknown_class_name_names_the_line(tmp_path):
    (tmp_path / 'l.txt').write_text('a.mp4 0\nb.mp4 swim\n')
    with pytest.raises(ValueError, match=r'l.txt:2.*swim'):
        VideoDataset(
            ann_file=str(tmp_path / 'l.txt'), pipeline=[], classes=['run'])
