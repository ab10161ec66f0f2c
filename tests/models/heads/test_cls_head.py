import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mvitx.registry import MODELS
from mvitx.structures import ActionDataSample
from mvitx.utils import register_all_modules

register_all_modules()


@MODELS.register_module(force=True)
class SumSquaredScoreLoss(nn.Module):
    """A stand-in for a configured loss: records the target it got."""

    def forward(self, cls_score, target):
        self.target = target
        return (cls_score**2).sum()


def _head(**kwargs):
    head = MODELS.build(
        dict(type='ClsHead', num_classes=5, in_channels=8, **kwargs))
    head.init_weights()
    return head


def _samples(labels):
    samples = []
    for label in labels:
        sample = ActionDataSample()
        sample.gt_label = torch.tensor([label])
        samples.append(sample)
    return samples


@pytest.mark.parametrize('shape', [(3, 8, 2, 4, 4), (3, 8, 4, 4), (3, 8)])
def test_map_inputs_are_averaged_over_every_position(shape):
    head = _head()
    x = torch.randn(*shape)
    pooled = x.flatten(2).mean(2) if x.ndim > 2 else x
    torch.testing.assert_close(head((x, )), head.fc(pooled))


def test_cls_token_is_used_when_given():
    head = _head()
    feat_map, cls_token = torch.randn(2, 8, 2, 3, 3), torch.randn(2, 8)
    torch.testing.assert_close(
        head(((feat_map, cls_token), )), head.fc(cls_token))


def test_hard_label_loss_is_cross_entropy_with_smoothing():
    head = _head(label_smoothing=0.1)
    feats = (torch.randn(4, 8), )
    loss = head.loss(feats, _samples([0, 1, 4, 2]))
    want = F.cross_entropy(
        head(feats), torch.tensor([0, 1, 4, 2]), label_smoothing=0.1)
    torch.testing.assert_close(loss, want)
    loss.backward()
    assert head.fc.weight.grad.abs().sum() > 0


def test_soft_targets_from_mixup_are_used():
    head = _head()
    feats = (torch.randn(2, 8), )
    samples = _samples([0, 1])
    soft = torch.tensor([[0.7, 0.3, 0, 0, 0], [0, 0.4, 0.6, 0, 0]])
    for sample, score in zip(samples, soft):
        sample.gt_score = score
    logp = head(feats).log_softmax(-1)
    want = -(soft * logp).sum(-1).mean()
    torch.testing.assert_close(head.loss(feats, samples), want)


def test_configured_loss_gets_scores_and_targets():
    head = _head(loss_cls=dict(type='SumSquaredScoreLoss'))
    feats = (torch.randn(3, 8), )
    loss = head.loss(feats, _samples([2, 0, 1]))
    torch.testing.assert_close(loss, (head(feats)**2).sum())
    assert head.loss_cls.target.tolist() == [2, 0, 1]


@pytest.mark.parametrize('average_clips', ['prob', 'score'])
def test_predict_averages_the_views_of_each_sample(average_clips):
    head = _head(average_clips=average_clips).eval()
    feats = (torch.randn(2 * 3, 8), )
    samples = head.predict(feats, _samples([0, 1]), num_views=3)
    logits = head(feats).view(2, 3, 5)
    if average_clips == 'prob':
        want = logits.softmax(-1).mean(1)
    else:
        want = logits.mean(1).softmax(-1)
    for sample, score in zip(samples, want):
        torch.testing.assert_close(sample.pred_score, score)
        assert sample.pred_score.sum() == pytest.approx(1.)


def test_dropout_applies_only_in_training():
    head = _head(dropout_ratio=0.5)
    x = torch.randn(64, 8)
    head.eval()
    torch.testing.assert_close(head(x), head.fc(x))
    head.train()
    assert not torch.allclose(head(x), head.fc(x))


def test_unknown_average_clips_is_refused():
    with pytest.raises(ValueError, match='average_clips'):
        _head(average_clips='max')
