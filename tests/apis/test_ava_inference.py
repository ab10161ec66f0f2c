"""``mvitx.apis.inference_detector``: a demo AVA model on a demo AVA video
gives, per keyframe, what the test loop gives on the same keyframe of an
``AVADataset``, with proposals or with an mmdet person detector."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from mvitx.apis import (action_names, detect_persons, inference_detector,
                        init_mmdet_detector, init_model)
from mvitx.datasets.ava_files import read_labelmap, read_proposals
from mvitx.datasets.demo import make_ava
from mvitx.registry import DATASETS, MODELS
from mvitx.utils import load_config, register_all_modules
from tests.apis.test_detector import RTMDET, write_person_detector
from tests.helpers import ROOT

CONFIG = osp.join(ROOT, 'configs', 'ava', 'mvit_xs_demo_ava.py')
#: The config's test proposal threshold (actors score 0.8-1, false boxes
#: at most 0.5).
DET_SCORE_THR = 0.6


@pytest.fixture(scope='module')
def ava(tmp_path_factory):
    """One 3-second demo AVA movie (10 fps, proposals at seconds 1 and 2)
    and a checkpoint of the demo config's randomly initialised model."""
    tmp = tmp_path_factory.mktemp('ava_inference')
    data = tmp / 'ava'
    make_ava(str(data), 0, dict(train_movies=0, val_movies=1, movie_seconds=3))
    register_all_modules()
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mvitx'):
        model = MODELS.build(load_config(CONFIG).model)
    ckpt = tmp / 'model.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    cfg = load_config(CONFIG, {'test_dataloader.dataset.data_root': str(data)})
    return dict(
        data=data,
        cfg=cfg,
        model=init_model(cfg, str(ckpt)),
        video=str(data / 'videos' / 'val00.mp4'),
        proposals=str(data / 'annotations' /
                      'ava_dense_proposals_val_demo.pkl'))


def test_matches_the_test_loop_on_dataset_keyframes(ava):
    """Every keyframe of the demo movie's AVA test set (read from the
    video) gets the boxes and scores ``model.test_step`` gives on that
    sample."""
    model = ava['model']
    keyframes = inference_detector(
        model,
        ava['video'],
        ava['proposals'],
        det_score_thr=DET_SCORE_THR,
        topk=3)
    assert [k.frame_index for k in keyframes] == [0, 10, 20]
    assert [k.timestamp for k in keyframes] == [0, 1, 2]
    # second 0 has no proposals
    assert keyframes[0].actors == []
    dataset_cfg = dict(
        ava['cfg'].test_dataloader.dataset, data_prefix=dict(video='videos'))
    with DefaultScope.overwrite_default_scope('mvitx'):
        dataset = DATASETS.build(dataset_cfg)
    by_second = {k.timestamp: k for k in keyframes}
    compared = 0
    for index in range(len(dataset)):
        data = dataset[index]
        with torch.no_grad():
            expected = model.test_step(
                dict(
                    inputs=[data['inputs']],
                    data_samples=[data['data_samples']]))[0]
        height, width = expected.metainfo['img_shape']
        boxes = expected.pred_instances.bboxes.numpy() / [
            width, height, width, height
        ]
        actors = by_second[expected.metainfo['timestamp']].actors
        assert len(actors) == len(boxes) > 0
        for actor, box, scores in zip(actors, boxes,
                                      expected.pred_instances.scores):
            np.testing.assert_allclose(actor.box, box, atol=1e-6)
            np.testing.assert_array_equal(actor.pred_score, scores.numpy())
        compared += 1
    assert compared == len(dataset) > 0


def test_topk_actions_are_named_from_the_label_map(ava):
    keyframes = inference_detector(
        ava['model'],
        ava['video'],
        ava['proposals'],
        det_score_thr=DET_SCORE_THR,
        topk=2)
    label_file = ava['data'] / 'annotations' / 'ava_action_list_demo.pbtxt'
    categories, _ = read_labelmap(str(label_file))
    names = {c['id']: c['name'] for c in categories}
    assert action_names(ava['model']) == names
    actors = [a for k in keyframes for a in k.actors]
    assert actors
    for actor in actors:
        order = np.argsort(-actor.pred_score, kind='stable')[:2]
        assert actor.labels == [int(j) + 1 for j in order]
        assert actor.scores == [float(actor.pred_score[j]) for j in order]
        # the demo label map leaves one of the 6 ids out: its id stands in
        assert actor.names == [names.get(i, str(i)) for i in actor.labels]


def test_loaded_proposals_and_keyframe_interval(ava):
    proposals = read_proposals(ava['proposals'])
    from_file = inference_detector(
        ava['model'], ava['video'], ava['proposals'], det_score_thr=0.)
    from_dict = inference_detector(
        ava['model'], ava['video'], proposals, det_score_thr=0.)
    assert len(from_file) == len(from_dict) == 3
    for a, b in zip(from_file, from_dict):
        assert len(a.actors) == len(b.actors)
        for x, y in zip(a.actors, b.actors):
            np.testing.assert_array_equal(x.pred_score, y.pred_score)
    # threshold 0 keeps the false, low-scored proposals too
    kept = [len(p) for p in proposals.values()]
    assert sorted(len(k.actors) for k in from_file[1:]) == sorted(kept)
    every_2s = inference_detector(
        ava['model'],
        ava['video'],
        proposals,
        keyframe_interval=2.,
        det_score_thr=DET_SCORE_THR)
    assert [k.frame_index for k in every_2s] == [0, 20]


def test_person_detector_gives_the_boxes_it_detects(ava, tmp_path):
    """An RTMDet that finds one frame-sized person everywhere: every
    keyframe scores that box, as it scores the same box given as a
    proposal."""
    detector = init_mmdet_detector(
        RTMDET, write_person_detector(str(tmp_path / 'rtmdet.pth')))
    keyframes = inference_detector(
        ava['model'], ava['video'], detector, det_score_thr=0.5, topk=1)
    assert [len(k.actors) for k in keyframes] == [1, 1, 1]
    cap = cv2.VideoCapture(ava['video'])
    ok, first = cap.read()
    cap.release()
    assert ok
    rows = detect_persons(detector, first, 0.5)
    proposals = {'val00,0000': rows}
    expected = inference_detector(
        ava['model'], ava['video'], proposals, det_score_thr=0.5)[0]
    np.testing.assert_allclose(
        keyframes[0].actors[0].box, [0, 0, 1, 1], atol=1e-5)
    np.testing.assert_array_equal(keyframes[0].actors[0].pred_score,
                                  expected.actors[0].pred_score)


def test_bad_inputs_are_named(ava, tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.mp4'):
        inference_detector(ava['model'], str(tmp_path / 'missing.mp4'),
                           ava['proposals'])
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'not a video')
    with pytest.raises(RuntimeError, match='broken.mp4'):
        inference_detector(ava['model'], str(broken), ava['proposals'])
    with pytest.raises(KeyError, match='unknown source'):
        inference_detector(
            ava['model'], ava['video'], ava['proposals'], source='k400')
