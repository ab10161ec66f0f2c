"""AVARoIHead: RoIAlign on the time-averaged map, multi-label loss."""
import pytest
import torch
from mmengine.structures import InstanceData

from mvitx.models.heads import AVARoIHead
from mvitx.models.heads.roi_head import sigmoid_focal_bce
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
    # Input 32 x 32 pixels -> map stride 4.
    rois = torch.tensor([[0, 0., 0., 16., 16.], [0, 16., 16., 32., 32.]])
    logits = head((feat, ), rois, input_hw=(32, 32))
    torch.testing.assert_close(logits[:, :2], torch.tensor([[1., 0.], [0.,
                                                                       1.]]))


def test_accepts_map_with_cls_token_and_rejects_2d():
    head = make_head()
    feat = torch.rand(2, 4, 2, 4, 4)
    rois = torch.tensor([[1, 0., 0., 8., 8.]])
    out = head([(feat, torch.rand(2, 4))], rois, input_hw=(16, 16))
    assert out.shape == (1, 3)
    with pytest.raises(ValueError, match='T, H, W'):
        head((torch.rand(2, 4, 4, 4), ), rois, input_hw=(16, 16))


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
    losses = head.loss((feat, ), samples, (16, 16))
    logits = head((feat, ),
                  head._rois([s.gt_instances.bboxes for s in samples]),
                  (16, 16))
    targets = torch.cat([s.gt_instances.labels for s in samples])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, targets)
    torch.testing.assert_close(losses['loss_action'], expected)
    opt = torch.optim.SGD(head.parameters(), lr=1.)
    for _ in range(200):
        opt.zero_grad()
        head.loss((feat, ), samples, (16, 16))['loss_action'].backward()
        opt.step()
    after = head.loss((feat, ), samples, (16, 16))
    assert after['loss_action'] < 0.5 * losses['loss_action']
    assert after['recall@0.5'] > 0.5


def test_cropped_out_actors_do_not_count():
    head = make_head()
    feat = torch.randn(2, 4, 2, 4, 4)
    samples = samples_with_actors()
    kept = head.loss((feat, ), samples[1:], (16, 16))['loss_action']
    # A box clipped to a line at the frame border joins sample 1.
    samples[1].gt_instances = InstanceData(
        bboxes=torch.tensor([[0., 0., 8., 8.], [16., 2., 16., 9.]]),
        labels=torch.tensor([[1., 0., 1.], [1., 1., 1.]]))
    torch.testing.assert_close(
        head.loss((feat, ), samples[1:], (16, 16))['loss_action'], kept)


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
                           samples_with_actors(), (16, 16))
    assert samples[0].pred_instances.scores.shape == (2, 3)
    assert samples[1].pred_instances.scores.shape == (1, 3)
    torch.testing.assert_close(samples[1].pred_instances.bboxes,
                               samples[1].proposals.bboxes)
    assert ((samples[0].pred_instances.scores > 0) &
            (samples[0].pred_instances.scores < 1)).all()
