"""``mvitx.datasets.demo.imagenet``: the ImageNet folder layout with list
files, read the same through ``ImageDataset`` by list and by folder."""
import os
import os.path as osp

import cv2
import pytest

from mvitx.datasets.demo import SCALES, make_imagenet
from mvitx.datasets.demo.render import SHAPES
from mvitx.registry import DATASETS
from mvitx.utils import register_all_modules


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('demo') / 'imagenet')
    make_imagenet(out, 0, SCALES['tiny'], 64)
    return out


def read_list(path):
    with open(path) as f:
        return [line.split() for line in f.read().splitlines()]


def test_imagenet_layout(root):
    with open(osp.join(root, 'meta', 'classes.txt')) as f:
        classes = f.read().splitlines()
    assert classes == list(SHAPES)
    for split in ('train', 'val'):
        entries = read_list(osp.join(root, 'meta', f'{split}.txt'))
        on_disk = {
            osp.relpath(osp.join(folder, name), osp.join(root, split))
            for folder, _, files in os.walk(osp.join(root, split))
            for name in files
        }
        assert {path for path, _ in entries} == on_disk
        per_class = SCALES['tiny'][f'{split}_images']
        assert len(entries) == per_class * len(classes)
        for path, label in entries:
            assert path.endswith('.JPEG')
            assert path.split('/')[0] == classes[int(label)]
            img = cv2.imread(osp.join(root, split, path))
            assert img is not None and img.shape == (64, 64, 3)


def _infos(dataset, key):
    return [(dataset.get_data_info(i)[key], dataset.get_data_info(i)['label'])
            for i in range(len(dataset))]


def test_images_load_through_image_dataset(root):
    register_all_modules()
    classes = osp.join(root, 'meta', 'classes.txt')
    pipeline = [dict(type='LoadImage')]
    for split in ('train', 'val'):
        common = dict(
            type='ImageDataset',
            pipeline=pipeline,
            source='demo_img',
            data_prefix=dict(img_path=osp.join(root, split)),
            classes=classes)
        by_list = DATASETS.build(
            dict(ann_file=osp.join(root, 'meta', f'{split}.txt'), **common))
        by_folder = DATASETS.build(dict(ann_file='', **common))
        assert sorted(_infos(by_list, 'img_path')) == sorted(
            _infos(by_folder, 'img_path'))
        assert by_list.metainfo['classes'] == SHAPES
        sample = by_list[len(by_list) - 1]
        assert sample['imgs'].shape == (1, 64, 64, 3)
        assert sample['source'] == 'demo_img'
        assert sample['img_path'].split(os.sep)[-2] == SHAPES[sample['label']]
