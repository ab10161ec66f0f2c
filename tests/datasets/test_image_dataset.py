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


def test_class_map_relabels_mapped_images_as_static_clips(tmp_path, make_jpeg):
    for shape in ('circle', 'ring', 'square'):
        (tmp_path / 'train' / shape).mkdir(parents=True)
        for i in range(2):
            make_jpeg(tmp_path / 'train' / shape / f'{i}.JPEG')
    (tmp_path / 'map.csv').write_text(
        '# circle and square have clips; ring has none\n'
        'src_id,src_name,dst_id,dst_name,confidence,method,reviewed\n'
        '0,circle,4,shape slides,0.667,token,yes\n'
        '2,square,4,shape slides,0.667,token,yes\n')

    def build(classes, class_map=str(tmp_path / 'map.csv')):
        return ImageDataset(
            ann_file='',
            pipeline=PIPELINE,
            source='demo_vid',
            data_prefix=dict(img_path=str(tmp_path / 'train')),
            classes=classes,
            class_map=class_map)

    dataset = build(['circle', 'ring', 'square'])
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    assert [(i['img_path'].split('/')[-2], i['label'])
            for i in infos] == [('circle', 4), ('circle', 4), ('square', 4),
                                ('square', 4)]
    packed = dataset[0]
    # one frame, not repeated in time
    assert packed['inputs'].shape == (3, 16, 16)
    sample = packed['data_samples']
    assert sample.source == 'demo_vid' and sample.modality == 'image'
    assert sample.gt_label.tolist() == [4]
    with pytest.raises(
            ValueError, match=r"map.csv:4: src_name 'square', but class 2"):
        build(['circle', 'ring', 'star'])
    # A list file of 2 classes: the map's class 2 is out of range.
    (tmp_path / 'train.txt').write_text('circle/0.JPEG 0\n')
    with pytest.raises(ValueError, match=r'map.csv:4: src_id 2 outside'):
        ImageDataset(
            ann_file=str(tmp_path / 'train.txt'),
            pipeline=[],
            data_prefix=dict(img_path=str(tmp_path / 'train')),
            num_classes=2,
            class_map=str(tmp_path / 'map.csv'))
