"""VisualizationHook in a short real run of the co-training demo config on
tiny demo data: TensorBoard gets the training samples of each source and,
per source, a per-class accuracy chart and a confusion matrix whose counts
are those of the validation predictions."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import Runner
from mmengine.structures import BaseDataElement
from tensorboard.backend.event_processing.event_accumulator import \
    EventAccumulator

from mvitx.datasets.demo import make_demo_data
from mvitx.engine.hooks import VisualizationHook
from mvitx.structures import BOX_TYPES, PAD_TYPE, ActionDataSample
from mvitx.utils import load_config, load_pickle, register_all_modules
from mvitx.visualization import plot_confusion_matrix, plot_per_class_accuracy
from mvitx.visualization.draw import TYPE_COLORS
from tests.helpers import ROOT

SOURCES = ('demo_img', 'demo_vid')


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    """Trains the demo config 2 steps (one per source), validates once and
    dumps the validation predictions beside the metric."""
    tmp = tmp_path_factory.mktemp('vis_hook')
    data = tmp / 'data'
    make_demo_data(str(data), scale='tiny')
    register_all_modules()
    cfg = load_config(osp.join(ROOT, 'configs/cotrain/mvit_xs_demo.py'))
    cfg.work_dir = str(tmp / 'work')
    for split in ('train', 'val'):
        loader = cfg[f'{split}_dataloader']
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.datasets.demo_img.data_root = str(data / 'imagenet')
        loader.dataset.datasets.demo_vid.data_root = str(data / 'kinetics')
    cfg.train_cfg.max_iters = 2
    cfg.train_cfg.val_interval = 2
    dump = str(tmp / 'preds.pkl')
    cfg.val_evaluator = [
        cfg.val_evaluator,
        dict(type='DumpResults', out_file_path=dump)
    ]
    runner = Runner.from_cfg(cfg)
    runner.train()
    hook = next(
        h for h in runner.hooks if type(h).__name__ == 'VisualizationHook')
    events = glob.glob(osp.join(cfg.work_dir, '*', 'vis_data', 'events*'))
    acc = EventAccumulator(events[0], size_guidance={'images': 0})
    acc.Reload()
    classes = runner.val_dataloader.dataset.metainfo
    return dict(
        hook=hook,
        acc=acc,
        preds=load_pickle(dump, tensors=True),
        classes={s: classes[s]['classes']
                 for s in SOURCES})


def image(acc, tag):
    event = acc.Images(tag)[-1]
    array = cv2.imdecode(
        np.frombuffer(event.encoded_image_string, np.uint8), cv2.IMREAD_COLOR)
    return event, array


def test_train_samples(run):
    for source in SOURCES:
        event, array = image(run['acc'], f'train_samples_{source}')
        # 4 samples of 64 px frames, upscaled 3 times, 2-px gutters; clips
        # show 4 frames side by side, images one.
        frames = 4 if source == 'demo_vid' else 1
        assert array.shape == (4 * 192 + 3 * 2, frames * 192, 3)
        assert array.std() > 10  # drawn frames, not a blank canvas
    # Once per source: the first training step of each.
    steps = {run['acc'].Images(f'train_samples_{s}')[0].step for s in SOURCES}
    assert steps == {0, 1}
    assert all(
        len(run['acc'].Images(f'train_samples_{s}')) == 1 for s in SOURCES)


def test_confusion_counts_equal_predictions(run):
    confusion = run['hook'].confusion
    assert sorted(confusion) == list(SOURCES)
    for source in SOURCES:
        expected = np.zeros((10, 10), np.int64)
        for p in run['preds']:
            if p['source'] == source:
                expected[int(p['gt_label'][0]),
                         int(p['pred_score'].argmax())] += 1
        assert expected.sum() > 0
        np.testing.assert_array_equal(confusion[source], expected)


def test_val_charts_in_tensorboard(run):
    tags = run['acc'].Tags()['images']
    for source in SOURCES:
        for chart in ('per_class_accuracy', 'confusion_matrix'):
            event, array = image(run['acc'], f'val_{chart}_{source}')
            assert event.step == 2
            assert array is not None and array.std() > 10
    assert len(tags) == 6


def test_charts_name_the_classes(run):
    names = list(run['classes']['demo_vid'])
    matrix = run['hook'].confusion['demo_vid']
    fig = plot_confusion_matrix(matrix, names)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    counts = sorted(
        int(t.get_text()) for t in ax.texts if t.get_text().isdigit())
    assert counts == sorted(matrix[matrix > 0].tolist())
    fig = plot_per_class_accuracy(names, [50.0] * 10, [2] * 10)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == names


def test_render_sample_draws_priors():
    """A person box of the packed priors is drawn in the person colour on
    every shown frame; a padded slot is not drawn."""
    sample = ActionDataSample()
    sample.gt_label = torch.tensor([1])
    priors = BaseDataElement()
    boxes = torch.tensor([[4., 4., 20., 28.], [0., 0., 32., 32.]])
    priors.bboxes = boxes.expand(2, 2, 4)
    priors.types = torch.tensor([[BOX_TYPES['person'], PAD_TYPE]] * 2)
    priors.scores = torch.tensor([[0.9, 0.]] * 2)
    priors.keypoints = torch.zeros(2, 0, 17, 3)
    sample.priors = priors
    clip = torch.zeros(3, 2, 32, 32, dtype=torch.uint8)
    hook = VisualizationHook(num_frames=4, scale=2.)
    image = hook.render_sample(clip, sample, ['a', 'b'])
    assert image.shape == (64, 2 * 64, 3)
    person = TYPE_COLORS[BOX_TYPES['person']]
    for left in (0, 64):  # both frames
        assert tuple(image[40, left + 8]) == person  # the box's left edge
        assert not image[60, left + 62].any()  # padded slot not drawn
    # The class name is written on the first frame only: the two frames
    # (same pixels, same priors) differ in its top rows alone.
    rows = np.nonzero((image[:, :64] != image[:, 64:]).any(axis=(1, 2)))[0]
    assert len(rows) and rows.max() < 16
