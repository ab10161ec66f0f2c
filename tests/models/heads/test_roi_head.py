"""AVARoIHead: RoIAlign on the time-averaged map, multi-label loss."""
import math

import pytest
import torch
from mmengine.structures import InstanceData

from mvitx.models.heads import AVARoIHead
from mvitx.models.heads.roi_head import sigmoid_focal_bce
from mvitx.models.losses.logit_adjustment import actor_class_priors
from mvitx.structures import ActionDataSample


def make_head(**kwargs):
    head = AVARoIHead(
        num_classes=3, in_channels=4, roi_size=2, dropout_ratio=0., **kwargs)
    head.init_weights()
    return head


def test_pools_inside_the_box_and_over_time():
    """A box over one quadrant sees only that quadrant's values."""
    head = make_head()
    with torch.no_grad():
        head.fc.weight.copy_(torch.eye(3, 4))
    feat = torch.zeros(1, 4, 2, 8, 8)
    feat[0, 0, :, :4, :4] = 1.  # top-left, both frames
    feat[0, 1, 0, 4:, 4:] = 2.  # bottom-right, frame 0 only: mean 1
    # Input 32 x 32 pixels, map stride 4.
    rois = torch.tensor([[0, 0., 0., 16., 16.], [0, 16., 16., 32., 32.]])
    logits = head((feat, ), rois, feat_stride=4)
    torch.testing.assert_close(logits[:, :2], torch.tensor([[1., 0.], [0.,
                                                                       1.]]))


def test_accepts_map_with_cls_token_and_rejects_2d():
    head = make_head()
    feat = torch.rand(2, 4, 2, 4, 4)
    rois = torch.tensor([[1, 0., 0., 8., 8.]])
    out = head([(feat, torch.rand(2, 4))], rois, feat_stride=4)
    assert out.shape == (1, 3)
    with pytest.raises(ValueError, match='T, H, W'):
        head((torch.rand(2, 4, 4, 4), ), rois, feat_stride=4)


def samples_with_actors():
    samples = []
    for n in (2, 1):
        s = ActionDataSample()
        boxes = torch.tensor([[0., 0., 8., 8.], [4., 4., 16., 16.]])[:n]
        labels = torch.tensor([[1., 0., 1.], [0., 1., 0.]])[:n]
        s.gt_instances = InstanceData(bboxes=boxes, labels=labels)
        s.proposals = InstanceData(bboxes=boxes + 1)
        samples.append(s)
    return samples


def test_loss_is_bce_and_trains():
    torch.manual_seed(0)
    head = make_head()
    feat = torch.randn(2, 4, 2, 4, 4) * 3
    samples = samples_with_actors()
    losses = head.loss((feat, ), samples, 4)
    logits = head((feat, ),
                  head._rois([s.gt_instances.bboxes for s in samples]), 4)
    targets = torch.cat([s.gt_instances.labels for s in samples])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, targets)
    torch.testing.assert_close(losses['loss_action'], expected)
    opt = torch.optim.SGD(head.parameters(), lr=1.)
    for _ in range(200):
        opt.zero_grad()
        head.loss((feat, ), samples, 4)['loss_action'].backward()
        opt.step()
    after = head.loss((feat, ), samples, 4)
    assert after['loss_action'] < 0.5 * losses['loss_action']
    assert after['recall@0.5'] > 0.5


def test_cropped_out_actors_do_not_count():
    head = make_head()
    feat = torch.randn(2, 4, 2, 4, 4)
    samples = samples_with_actors()
    kept = head.loss((feat, ), samples[1:], 4)['loss_action']
    # A box clipped to a line at the frame border joins sample 1.
    samples[1].gt_instances = InstanceData(
        bboxes=torch.tensor([[0., 0., 8., 8.], [16., 2., 16., 9.]]),
        labels=torch.tensor([[1., 0., 1.], [1., 1., 1.]]))
    torch.testing.assert_close(
        head.loss((feat, ), samples[1:], 4)['loss_action'], kept)


def test_focal_term_down_weights_easy_examples():
    logits = torch.tensor([[4., -4.]])
    targets = torch.tensor([[1., 0.]])
    plain = sigmoid_focal_bce(logits, targets, 0.)
    focal = sigmoid_focal_bce(logits, targets, 2.)
    p = torch.sigmoid(torch.tensor(4.))
    torch.testing.assert_close(focal, plain * (1 - p)**2)


def test_predict_scores_proposals():
    head = make_head()
    samples = head.predict((torch.rand(2, 4, 2, 4, 4), ),
                           samples_with_actors(), 4)
    assert samples[0].pred_instances.scores.shape == (2, 3)
    assert samples[1].pred_instances.scores.shape == (1, 3)
    torch.testing.assert_close(samples[1].pred_instances.bboxes,
                               samples[1].proposals.bboxes)
    assert ((samples[0].pred_instances.scores > 0) &
            (samples[0].pred_instances.scores < 1)).all()


def block_pattern(cells: int, block: int) -> torch.Tensor:
    """``(1, 4, 1, cells, cells)`` map of a 4 x 4 pattern of 64-pixel
    blocks (channel 0: the block's number) at ``block`` cells per block."""
    pattern = torch.arange(16.).reshape(4, 4)
    grid = pattern.repeat_interleave(block, 0).repeat_interleave(block, 1)
    feat = torch.zeros(1, 4, 1, cells, cells)
    feat[0, 0, 0] = grid
    return feat


def test_the_stride_maps_boxes_onto_the_same_pattern():
    """One 256-pixel input pattern seen at stride 32 (8 x 8 map) and at
    stride 16 (16 x 16 map): every box pools the same blocks."""
    head = make_head()
    with torch.no_grad():
        head.fc.weight.copy_(torch.eye(3, 4))
    coarse, fine = block_pattern(8, 2), block_pattern(16, 4)
    rois = torch.tensor([[0, 0., 0., 64., 64.], [0, 64., 128., 192., 192.],
                         [0, 192., 192., 256., 256.]])
    at_32 = head((coarse, ), rois, feat_stride=32)[:, 0]
    at_16 = head((fine, ), rois, feat_stride=16)[:, 0]
    # The max over the box is its bottom-right block: 0, 2 * 4 + 2, 15.
    torch.testing.assert_close(at_32, torch.tensor([0., 10., 15.]))
    torch.testing.assert_close(at_16, at_32)
    # A wrong stride reads other blocks.
    assert not torch.allclose(
        head((fine, ), rois, feat_stride=32)[:, 0], at_32)
    with pytest.raises(ValueError, match='feat_stride'):
        head((fine, ), rois, feat_stride=0)


def write_train_csv(path):
    # Keyframe a: actor 1 (actions 1, 3), actor 2 (action 1);
    # keyframe b: actor 3 (action 2); keyframe c lists no actor.
    path.write_text('v,902,0.1,0.1,0.5,0.5,1,1\n'
                    'v,902,0.1,0.1,0.5,0.5,3,1\n'
                    'v,902,0.5,0.5,0.9,0.9,1,2\n'
                    'w,903,0.2,0.2,0.4,0.4,2,3\n'
                    'w,904\n')
    return str(path)


def test_logit_adjusted_loss_by_hand(tmp_path):
    ann_file = write_train_csv(tmp_path / 'train.csv')
    # 3 actor boxes: action 1 on 2, action 2 on 1, action 3 on 1; the
    # fourth class has none: half a box.
    priors = actor_class_priors(ann_file, 4)
    torch.testing.assert_close(
        torch.from_numpy(priors),
        torch.tensor([2 / 3, 1 / 3, 1 / 3, 0.5 / 3], dtype=torch.float64))
    tau = 0.5
    # The head of 3 classes counts the same boxes.
    head = make_head(logit_adjust_tau=tau, train_ann_file=ann_file)
    feat = torch.randn(2, 4, 2, 4, 4)
    samples = samples_with_actors()
    rois = head._rois([s.gt_instances.bboxes for s in samples])
    logits = head((feat, ), rois, 4)
    targets = torch.cat([s.gt_instances.labels for s in samples])
    expected = 0.
    for logit_row, target_row in zip(logits.tolist(), targets.tolist()):
        for c, (z, y) in enumerate(zip(logit_row, target_row)):
            p = (2 / 3, 1 / 3, 1 / 3)[c]
            z = z + tau * math.log(p / (1 - p))
            prob = 1 / (1 + math.exp(-z))
            expected -= y * math.log(prob) + (1 - y) * math.log(1 - prob)
    expected /= logits.numel()
    torch.testing.assert_close(
        head.loss((feat, ), samples, 4)['loss_action'],
        torch.tensor(expected, dtype=torch.float32))
    # Inference is unchanged: the same scores as a plain head's.
    plain = make_head()
    plain.load_state_dict(head.state_dict())
    torch.testing.assert_close(
        head.predict((feat, ), samples_with_actors(),
                     4)[0].pred_instances.scores,
        plain.predict((feat, ), samples_with_actors(),
                      4)[0].pred_instances.scores)


def test_logit_adjustment_tau_zero_is_the_plain_loss(tmp_path):
    ann_file = write_train_csv(tmp_path / 'train.csv')
    torch.manual_seed(0)
    feat = torch.randn(2, 4, 2, 4, 4)
    plain = make_head()
    zero = make_head(logit_adjust_tau=0., train_ann_file=ann_file)
    zero.load_state_dict(plain.state_dict())
    samples = samples_with_actors()
    assert torch.equal(
        zero.loss((feat, ), samples, 4)['loss_action'],
        plain.loss((feat, ), samples, 4)['loss_action'])
    adjusted = make_head(logit_adjust_tau=1., train_ann_file=ann_file)
    adjusted.load_state_dict(plain.state_dict())
    assert not torch.equal(
        adjusted.loss((feat, ), samples, 4)['loss_action'],
        plain.loss((feat, ), samples, 4)['loss_action'])


def test_logit_adjustment_errors(tmp_path):
    with pytest.raises(ValueError, match='needs train_ann_file'):
        make_head(logit_adjust_tau=1.)
    bad = tmp_path / 'bad.csv'
    bad.write_text('v,902,0.1,0.1,0.5,0.5,7,1\n')
    with pytest.raises(ValueError, match=r'bad\.csv.*\[1, num_classes=3\]'):
        make_head(logit_adjust_tau=1., train_ann_file=str(bad))
    empty = tmp_path / 'empty.csv'
    empty.write_text('v,902\n')
    with pytest.raises(ValueError, match='no actor box'):
        make_head(logit_adjust_tau=1., train_ann_file=str(empty))
