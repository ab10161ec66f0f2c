import os.path as osp

import mmpose
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from mvitx.apis.detector import class_key
from mvitx.apis.priors import (HELD_OBJECT_CLASSES, PriorExtractor,
                               boxes_from_keypoints, layout_of_pose_lifter,
                               layout_of_pose_model, link_objects,
                               stack_frame_priors, track_persons)
from mvitx.datasets.prior_store import load_priors, save_priors
from mvitx.structures import FACE, HAND, OBJECT, PERSON

MIM = osp.join(osp.dirname(mmpose.__file__), '.mim')
DET = osp.join(MIM, 'demo', 'mmdetection_cfg',
               'rtmdet_nano_320-8xb32_coco-person.py')
# RTMDet-tiny on the 80 COCO classes (mmdet's config, through mmpose's demo)
DET_COCO = osp.join(MIM, 'demo', 'mmdetection_cfg',
                    'rtmdet_tiny_8xb32-300e_coco.py')
POSE = osp.join(MIM, 'configs', 'body_2d_keypoint', 'rtmpose', 'coco',
                'rtmpose-t_8xb256-420e_coco-256x192.py')
# VideoPose3D (TCN over 27 frames), H36M keypoints
LIFTER = osp.join(MIM, 'configs', 'body_3d_keypoint', 'video_pose_lift',
                  'h36m', 'video-pose-lift_tcn-27frm-supv_8xb128-160e_h36m.py')


def make_classes_fire(detector, logits):
    """Makes a randomly initialised RTMDet detect, in every frame, exactly
    one frame-sized box per class of ``logits`` (class name -> logit).

    Its classification layers output the given logits (-10 for the other
    classes) and its box layers distances far beyond the frame at every
    location: the boxes, clipped to the frame, coincide, so NMS keeps one
    per class, with score ``sigmoid(logit)``.
    """
    classes = [class_key(c) for c in detector.dataset_meta['classes']]
    head = detector.bbox_head
    with torch.no_grad():
        for cls_conv, reg_conv in zip(head.rtm_cls, head.rtm_reg):
            cls_conv.weight.zero_()
            cls_conv.bias.fill_(-10.)
            for name, logit in logits.items():
                cls_conv.bias[classes.index(name)] = logit
            reg_conv.weight.zero_()
            reg_conv.bias.fill_(1e3)
    return classes


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
    frames[0].update(classes=np.array([0, -1]), links=np.array([-1, -1]))
    frames[1].update(classes=np.zeros(0), links=np.zeros(0))
    out = stack_frame_priors(frames, 17)
    assert out['boxes'].shape == (2, 2, 4)
    assert out['box_types'].tolist() == [[0, 2], [-1, -1]]
    assert out['box_person'].tolist() == [[0, 0], [-1, -1]]
    assert out['box_classes'].tolist() == [[0, -1], [-1, -1]]
    assert out['box_links'].tolist() == [[-1, -1], [-1, -1]]
    assert out['keypoints'].shape == (2, 1, 17, 3)
    assert (out['keypoints'][1] == 0).all()
    assert 'keypoints3d' not in out
    frames[0]['keypoints3d'] = np.ones((1, 17, 4))
    frames[1]['keypoints3d'] = np.zeros((0, 17, 4))
    out = stack_frame_priors(frames, 17, 17)
    assert out['keypoints3d'].shape == (2, 1, 17, 4)
    assert (out['keypoints3d'][0] == 1).all()
    assert (out['keypoints3d'][1] == 0).all()


def test_default_object_classes_are_coco_classes():
    from mmdet.datasets import CocoDataset
    coco = [class_key(c) for c in CocoDataset.METAINFO['classes']]
    assert len(set(HELD_OBJECT_CLASSES)) == len(HELD_OBJECT_CLASSES) == 43
    assert set(HELD_OBJECT_CLASSES) <= set(coco) - {'person'}


def test_link_objects_prefers_overlap_then_hands_then_nearest():
    boxes = np.array(
        [
            [0, 0, 40, 100],  # 0 person
            [30, 40, 50, 60],  # 1 hand, reaching out of the person
            [45, 45, 55, 55],  # 2 object on the hand (and not the person)
            [35, 10, 45, 20],  # 3 object on the person only
            [38, 45, 42, 50],  # 4 object on both: the hand wins
            [60, 50, 70, 60],  # 5 object: hand 10 px away, person 20
            [0, 110, 10, 120],  # 6 object 10 px below the person only
            [80, 0, 90, 10],  # 7 face: not linked
        ],
        np.float32)
    types = np.array(
        [PERSON, HAND, OBJECT, OBJECT, OBJECT, OBJECT, OBJECT, FACE])
    assert link_objects(boxes, types).tolist() == [-1, -1, 1, 0, 1, 1, 0, -1]
    # nobody to link to
    assert link_objects(boxes[2:3], types[2:3]).tolist() == [-1]
    assert link_objects(np.zeros((0, 4)), np.zeros(0)).tolist() == []


def test_track_persons_follows_overlapping_boxes():
    frames = [
        np.array([[0, 0, 10, 20], [50, 0, 60, 20]], np.float32),
        # person 1 moved a little, person 0 left, a new one came
        np.array([[30, 30, 40, 40], [52, 0, 62, 20]], np.float32),
        np.zeros((0, 4), np.float32),
        np.array([[52, 0, 62, 20]], np.float32),  # after a gap: new track
    ]
    tracks = track_persons(frames)
    assert [t.tolist() for t in tracks] == [[0, 1], [2, 1], [], [3]]


def test_layout_of_pose_model_and_lifter():
    assert layout_of_pose_model(dict(num_keypoints=133)) == 'coco_wholebody'
    assert layout_of_pose_model(dict(num_keypoints=17)) == 'coco'
    with pytest.raises(ValueError, match='21 keypoints'):
        layout_of_pose_model(dict(num_keypoints=21, dataset_name='hand'))
    assert layout_of_pose_lifter(dict(dataset_name='h36m',
                                      num_keypoints=17)) == 'h36m'
    with pytest.raises(ValueError, match="'h3wb' with 133"):
        layout_of_pose_lifter(dict(dataset_name='h3wb', num_keypoints=133))


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
    assert loaded.object_classes == []  # a person detector: no objects
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


def test_coco_detector_objects_links_and_3d_poses(tmp_path):
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='random weights'):
        extractor = PriorExtractor(
            DET_COCO,
            POSE,
            object_classes=['cup', 'Cell_Phone'],
            object_score_thr=0.6,
            max_persons=2,
            pose3d_config=LIFTER)
    # bottle scores 0.55, under object_score_thr; car is no object class
    logits = dict(person=3., cup=2., bottle=.2, car=3.)
    logits['cell phone'] = 1.
    classes = make_classes_fire(extractor.detector, logits)
    cup, phone = classes.index('cup'), classes.index('cell phone')
    assert extractor.object_classes == ['cup', 'cell phone']
    assert extractor.settings['object_classes'] == ['cup', 'cell phone']
    assert extractor.keypoint3d_layout == 'h36m'

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), np.uint8) for _ in range(3)]
    per_frame = extractor(frames)
    for frame in per_frame:
        objects = frame['types'] == OBJECT
        assert sorted(frame['classes'][objects].tolist()) == [cup, phone]
        np.testing.assert_allclose(
            sorted(frame['scores'][objects]),
            1 / (1 + np.exp([-1., -2.])),
            atol=1e-4)
        # the only person box comes first; objects are linked to it
        assert frame['types'][0] == PERSON and frame['classes'][0] == 0
        assert (frame['links'][objects] == 0).all()
        assert (frame['links'][~objects] == -1).all()
        assert (frame['classes'][frame['types'] == FACE] == -1).all()

    fields = extractor.video_priors(per_frame, (48, 64))
    assert fields['keypoints3d_layout'] == 'h36m'
    kpts, kpts3d = fields['keypoints'], fields['keypoints3d']
    assert kpts3d.shape == (3, 1, 17, 4) and np.isfinite(kpts3d).all()
    # scores of H36M joints: pelvis between the hips (COCO 11, 12), right
    # hip (COCO 12)
    pelvis = (kpts[..., 11, 2] + kpts[..., 12, 2]) / 2
    np.testing.assert_allclose(kpts3d[..., 0, 3], pelvis, rtol=1e-6)
    np.testing.assert_allclose(kpts3d[..., 1, 3], kpts[..., 12, 2])
    assert np.abs(kpts3d[..., :3]).sum() > 0  # the lifter ran

    path = str(tmp_path / 'vid.npz')
    save_priors(
        path,
        frame_inds=np.arange(3),
        timestamps=np.arange(3) / 25.,
        video_size=(48, 64),
        **fields)
    priors = load_priors(path)
    types = priors['box_types']
    assert set(priors['box_classes'][types == OBJECT]) == {cup, phone}
    assert (priors['box_links'][types != OBJECT] == -1).all()
    np.testing.assert_array_equal(priors['keypoints3d'], kpts3d)


@pytest.mark.parametrize('names, message', [
    (['cup', 'unicorn'], "'unicorn' is not a class of detector"),
    (['person'], 'own box types'),
])
def test_object_classes_must_be_detector_classes(names, message):
    with pytest.warns(UserWarning, match='random weights'), \
            pytest.raises(ValueError, match=message):
        PriorExtractor(DET_COCO, POSE, object_classes=names)
