import pytest

from mvitx.datasets import ImageDataset
from mvitx.utils import register_all_modules

PIPELINE = [
    dict(type='LoadImage'),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(16, 16)),
    dict(type='PackActionInputs'),
]


@pytest.fixture(autouse=True)
def _registered():
    register_all_modules()


def test_imagenet_folder_layout(tmp_path, make_jpeg):
    for wnid, count in (('n02', 2), ('n01', 1)):
        (tmp_path / 'train' / wnid).mkdir(parents=True)
        for i in range(count):
            make_jpeg(tmp_path / 'train' / wnid / f'{wnid}_{i}.JPEG')
    (tmp_path / 'train' / 'n01' / 'notes.txt').write_text('not an image')
    dataset = ImageDataset(
        ann_file='',
        pipeline=PIPELINE,
        data_root=str(tmp_path),
        data_prefix=dict(img_path='train'),
        classes=['tench', 'goldfish'])
    assert len(dataset) == 3
    assert dataset.metainfo['classes'] == ('tench', 'goldfish')
    infos = [dataset.get_data_info(i) for i in range(3)]
    assert [i['label'] for i in infos] == [0, 1, 1]
    assert infos[0]['img_path'] == str(tmp_path / 'train/n01/n01_0.JPEG')
    assert {i['source'] for i in infos} == {'in1k'}
    assert {i['modality'] for i in infos} == {'image'}
    packed = dataset[2]
    assert packed['inputs'].shape == (3, 16, 16)
    sample = packed['data_samples']
    assert sample.gt_label.tolist() == [1] and sample.modality == 'image'


def test_list_file_and_class_count_check(tmp_path, make_jpeg):
    (tmp_path / 'imgs').mkdir()
    make_jpeg(tmp_path / 'imgs' / 'x.png')
    (tmp_path / 'val.txt').write_text('x.png 4\n')
    dataset = ImageDataset(
        ann_file=str(tmp_path / 'val.txt'),
        pipeline=PIPELINE,
        data_prefix=dict(img_path=str(tmp_path / 'imgs')),
        source='demo_img')
    assert dataset.get_data_info(0)['label'] == 4
    assert dataset[0]['data_samples'].source == 'demo_img'
    (tmp_path / 'train' / 'a').mkdir(parents=True)
    with pytest.raises(ValueError, match='1 class folders in .*, but 2'):
        ImageDataset(
            ann_file='',
            pipeline=[],
            data_prefix=dict(img_path=str(tmp_path / 'train')),
            classes=['a', 'b'])
