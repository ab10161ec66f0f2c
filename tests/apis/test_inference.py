"""``mvitx.apis.inference``: a trained demo recognizer on demo videos, images
and arrays gives what ``tools/test.py`` gives on the same samples."""
import os.path as osp
import pickle
from types import SimpleNamespace

import decord
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from mvitx.apis import inference_recognizer, init_model, topk_lines
from mvitx.datasets.base_dataset import read_names_file
from mvitx.datasets.demo import make_demo_data
from mvitx.datasets.transforms.loading import read_image
from mvitx.utils import load_checkpoint_file, load_config
from tests.helpers import ROOT, run_script

CONFIG = osp.join(ROOT, 'configs', 'cotrain', 'mvit_xs_demo.py')
#: The demo data's folder per source of CONFIG.
DATA_DIRS = dict(demo_img='imagenet', demo_vid='kinetics')


def data_options(data, *loaders):
    """``--cfg-options`` that point the ``loaders`` of CONFIG at the demo
    data in ``data``, read in the main process."""
    options = []
    for loader in loaders:
        options += [
            f'{loader}.num_workers=0', f'{loader}.persistent_workers=False'
        ]
        options += [
            f'{loader}.dataset.datasets.{source}.data_root={data}/{folder}'
            for source, folder in DATA_DIRS.items()
        ]
    return options


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    """The tiny demo data and a checkpoint of CONFIG trained on it for 8
    steps by ``tools/train.py``."""
    tmp = tmp_path_factory.mktemp('demo_run')
    data, work = tmp / 'data', tmp / 'work'
    make_demo_data(str(data), scale='tiny')
    run_script(
        'tools/train.py',
        CONFIG,
        '--work-dir',
        work,
        '--cfg-options',
        'train_cfg.max_iters=8',
        'default_hooks.checkpoint.interval=8',
        'train_dataloader.batch_sampler.batch_sizes.demo_img=4',
        'train_dataloader.batch_sampler.batch_sizes.demo_vid=2',
        *data_options(data, 'train_dataloader', 'val_dataloader',
                      'test_dataloader'),
        cwd=tmp,
        check=True)
    return SimpleNamespace(data=data, checkpoint=work / 'iter_8.pth')


@pytest.fixture(scope='module')
def test_tool_predictions(demo_run, tmp_path_factory):
    """``tools/test.py --dump`` of the checkpoint: file path to the dumped
    prediction (a dict with ``pred_score`` and ``source``)."""
    tmp = tmp_path_factory.mktemp('test_tool')
    dump = tmp / 'preds.pkl'
    run_script(
        'tools/test.py',
        CONFIG,
        demo_run.checkpoint,
        '--work-dir',
        tmp / 'work',
        '--dump',
        dump,
        '--cfg-options',
        *data_options(demo_run.data, 'test_dataloader'),
        cwd=tmp,
        check=True)
    # our own dump, just written by the tool
    with open(dump, 'rb') as f:
        predictions = pickle.load(f)
    return {p.get('img_path') or p['filename']: p for p in predictions}


@pytest.fixture(scope='module')
def model(demo_run):
    return init_model(CONFIG, str(demo_run.checkpoint))


@pytest.mark.parametrize('source', sorted(DATA_DIRS))
def test_files_match_the_test_tool(model, test_tool_predictions, source):
    samples = {
        path: p
        for path, p in test_tool_predictions.items() if p['source'] == source
    }
    assert len(samples) == 10  # one per class in the tiny demo data
    top1, diff = set(), 0.
    for path, dumped in samples.items():
        results = inference_recognizer(model, path)
        assert list(results) == [source]
        result = results[source]
        expected = dumped['pred_score'].numpy()
        np.testing.assert_allclose(result.pred_score, expected, atol=1e-5)
        assert result.labels[0] == expected.argmax()
        top1.add(result.labels[0])
        diff = max(diff, np.abs(result.pred_score - expected).max())
    print(f'{source}: {len(samples)} samples, top-1 classes {sorted(top1)}, '
          f'max score difference {diff:.3g}')


def test_arrays_match_files(model, demo_run):
    image = sorted((demo_run.data / 'imagenet' / 'val').rglob('*.JPEG'))[0]
    video = sorted((demo_run.data / 'kinetics' / 'videos_val').glob('*.mp4'))
    video = str(video[0])
    from_file = inference_recognizer(model, str(image))['demo_img']
    from_array = inference_recognizer(model,
                                      read_image(str(image)))['demo_img']
    np.testing.assert_allclose(
        from_array.pred_score, from_file.pred_score, atol=1e-6)
    reader = decord.VideoReader(video)
    frames = reader.get_batch(list(range(len(reader)))).asnumpy()
    from_file = inference_recognizer(model, video)['demo_vid']
    from_array = inference_recognizer(model, frames)['demo_vid']
    np.testing.assert_allclose(
        from_array.pred_score, from_file.pred_score, atol=1e-6)
    # the clip through the image head (a one-frame clip is an image)
    with pytest.raises(ValueError, match="source 'demo_img' takes image"):
        inference_recognizer(model, frames, source='demo_img')


def test_topk_names_and_scores(model, demo_run):
    video = sorted((demo_run.data / 'kinetics' / 'videos_val').glob('*.mp4'))
    result = inference_recognizer(model, str(video[0]), topk=3)['demo_vid']
    classes = read_names_file(str(demo_run.data / 'kinetics' / 'classes.txt'))
    assert len(result.labels) == len(result.scores) == 3
    assert result.names == [classes[i] for i in result.labels]
    assert result.scores == sorted(result.scores, reverse=True)
    assert result.scores == [result.pred_score[i] for i in result.labels]
    assert abs(result.pred_score.sum() - 1) < 1e-5
    assert topk_lines({'demo_vid': result}) == [
        f'{name} {score:.3f}'
        for name, score in zip(result.names, result.scores)
    ]
    everything = inference_recognizer(model, str(video[0]), topk=100)
    assert len(everything['demo_vid'].labels) == 10


def test_class_names_from_the_config_or_ids(model, demo_run, tmp_path):
    # a bare state dict: no dataset_meta, so the config's datasets name
    # the classes
    bare = tmp_path / 'bare.pth'
    torch.save(
        load_checkpoint_file(str(demo_run.checkpoint))['state_dict'], bare)

    def config(data):
        cfg = load_config(CONFIG)
        for source, folder in DATA_DIRS.items():
            cfg.test_dataloader.dataset.datasets[source].data_root = str(
                data / folder)
        return cfg

    from_config = init_model(config(demo_run.data), str(bare))
    for source, info in model.test_sources.items():
        assert info.classes == from_config.test_sources[source].classes
        assert len(info.classes) == 10
    assert model.test_sources['demo_img'].modality == 'image'
    assert model.test_sources['demo_vid'].modality == 'video'
    # no data on disk either: ids stand in for names
    with pytest.warns(UserWarning, match='no class names for source'):
        untrained = init_model(config(tmp_path / 'missing'))
    image = np.zeros((64, 64, 3), np.uint8)
    result = inference_recognizer(untrained, image)['demo_img']
    assert result.names == [str(i) for i in result.labels]


def test_bad_inputs(model, demo_run):
    with pytest.raises(KeyError, match="unknown source 'k400'"):
        inference_recognizer(model, np.zeros((8, 8, 3), np.uint8), 'k400')
    with pytest.raises(ValueError, match='arrays must be uint8 RGB'):
        inference_recognizer(model, np.zeros((8, 8, 3), np.float32))
    with pytest.raises(FileNotFoundError, match='missing.mp4'):
        inference_recognizer(model, str(demo_run.data / 'missing.mp4'))


def test_builds_in_the_config_scope(demo_run):
    """A caller may leave another library's scope current (a
    ``PriorExtractor`` leaves mmdet's)."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = init_model(CONFIG, str(demo_run.checkpoint))
    assert sorted(model.test_sources) == sorted(DATA_DIRS)
