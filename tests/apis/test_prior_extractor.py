import os.path as osp

import mmpose
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from mvitx.apis.priors import (PriorExtractor, boxes_from_keypoints,
                               layout_of_pose_model, stack_frame_priors)

MIM = osp.join(osp.dirname(mmpose.__file__), '.mim')
DET = osp.join(MIM, 'demo', 'mmdetection_cfg',
               'rtmdet_nano_320-8xb32_coco-person.py')
POSE = osp.join(MIM, 'configs', 'body_2d_keypoint', 'rtmpose', 'coco',
                'rtmpose-t_8xb256-420e_coco-256x192.py')


def test_boxes_from_keypoints():
    kpts = np.zeros((2, 6, 3), np.float32)
    kpts[0, :3] = [[10, 20, 0.9], [30, 20, 0.8], [20, 40, 0.7]]
    kpts[0, 3] = [100, 100, 0.1]  # below the threshold: ignored
    kpts[1, :2] = [[5, 5, 0.9], [6, 6, 0.9]]  # too few keypoints
    rows = boxes_from_keypoints(
        kpts, [(0, 1, 2, 3)], score_thr=0.5, padding=0.25)
    assert rows.shape == (1, 7)
    # extent 20 x 20 around (20, 30), each side grown by 0.25 * 20
    np.testing.assert_allclose(rows[0, :4], [5, 15, 35, 45])
    np.testing.assert_allclose(rows[0, 4:], [0.8, 0, 0], atol=1e-6)
    tiny = boxes_from_keypoints(
        kpts[1:], [(0, 1)], score_thr=0.5, min_keypoints=2, min_size=8)
    np.testing.assert_allclose(tiny[0, :4], [1.5, 1.5, 9.5, 9.5])


def test_stack_frame_priors_pads():
    frames = [
        dict(
            boxes=np.ones((2, 4)),
            scores=np.ones(2),
            types=np.array([0, 2]),
            persons=np.array([0, 0]),
            keypoints=np.ones((1, 17, 3))),
        dict(
            boxes=np.zeros((0, 4)),
            scores=np.zeros(0),
            types=np.zeros(0),
            persons=np.zeros(0),
            keypoints=np.zeros((0, 17, 3))),
    ]
    out = stack_frame_priors(frames, 17)
    assert out['boxes'].shape == (2, 2, 4)
    assert out['box_types'].tolist() == [[0, 2], [-1, -1]]
    assert out['box_person'].tolist() == [[0, 0], [-1, -1]]
    assert out['keypoints'].shape == (2, 1, 17, 3)
    assert (out['keypoints'][1] == 0).all()


def test_layout_of_pose_model():
    assert layout_of_pose_model(dict(num_keypoints=133)) == 'coco_wholebody'
    assert layout_of_pose_model(dict(num_keypoints=17)) == 'coco'
    with pytest.raises(ValueError, match='21 keypoints'):
        layout_of_pose_model(dict(num_keypoints=21, dataset_name='hand'))


def test_checkpoints_load_and_scope_is_restored(tmp_path):

    def current_scope():
        scope = DefaultScope.get_current_instance()
        return None if scope is None else scope.scope_name

    scope = current_scope()
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='random weights'):
        source = PriorExtractor(DET, POSE, det_score_thr=0.05)
    det_ckpt, pose_ckpt = str(tmp_path / 'det.pth'), str(tmp_path / 'pose.pth')
    # like OpenMMLab's released checkpoints: meta with numpy values
    meta = dict(
        dataset_meta=dict(classes=('person', )),
        mmengine_version='0.10.7',
        iter=np.int64(1000),
        stats=np.array([0.5, 0.25]))
    torch.save(
        dict(state_dict=source.detector.state_dict(), meta=meta), det_ckpt)
    torch.save(dict(state_dict=source.pose_model.state_dict()), pose_ckpt)

    torch.manual_seed(1)
    loaded = PriorExtractor(
        DET,
        POSE,
        det_checkpoint=det_ckpt,
        pose_checkpoint=pose_ckpt,
        det_score_thr=0.05)
    assert loaded.detector.dataset_meta['classes'] == ('person', )
    assert loaded.label_types == {0: 0}
    for a, b in ((source.detector, loaded.detector), (source.pose_model,
                                                      loaded.pose_model)):
        for (name, p), q in zip(a.state_dict().items(),
                                b.state_dict().values()):
            assert torch.equal(p, q), name

    frames = [np.random.randint(0, 255, (48, 64, 3), np.uint8)] * 2
    a, b = source(frames), loaded(frames)
    assert len(a) == 2
    for fa, fb in zip(a, b):
        np.testing.assert_allclose(fa['boxes'], fb['boxes'], atol=1e-4)
        np.testing.assert_allclose(fa['keypoints'], fb['keypoints'], atol=1e-3)
        assert ((fa['boxes'] >= 0) &
                (fa['boxes'][:, 2:] <= [64, 48]).all()).all()
    assert current_scope() == scope
