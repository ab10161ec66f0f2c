"""AVADetector with the tiny MViT, with and without the top-down neck."""
import pytest
import torch
from mmengine.structures import BaseDataElement, InstanceData

from mvitx.registry import MODELS
from mvitx.structures import ActionDataSample
from mvitx.utils import register_all_modules

register_all_modules()


def make_samples(with_priors=False):
    samples = []
    for n in (2, 1):
        s = ActionDataSample(metainfo=dict(img_shape=(32, 48)))
        boxes = torch.tensor([[0., 0., 24., 32.], [20., 4., 48., 30.]])[:n]
        s.gt_instances = InstanceData(bboxes=boxes, labels=torch.eye(2, 3)[:n])
        s.proposals = InstanceData(bboxes=boxes)
        if with_priors:
            s.priors = BaseDataElement(
                bboxes=torch.tensor([[[2., 2., 10., 10.]]]).repeat(4, 1, 1),
                types=torch.ones(4, 1, dtype=torch.long),
                scores=torch.ones(4, 1),
                valid=torch.ones(4, 1, dtype=torch.bool))
        samples.append(s)
    return samples


def build(neck=None, **backbone):
    return MODELS.build(
        dict(
            type='AVADetector',
            backbone=dict(type='MViT', arch='xs', **backbone),
            neck=neck,
            roi_head=dict(
                type='AVARoIHead',
                num_classes=3,
                in_channels=64,
                dropout_ratio=0.)))


@pytest.mark.parametrize('topdown', [False, True])
def test_loss_and_predict(topdown):
    torch.manual_seed(0)
    neck = dict(
        type='TopDownModulation',
        stage0_channels=32,
        block_indices=(2, ),
        block_channels=(64, ),
        embed_dims=16,
        num_heads=1,
        max_tokens=16) if topdown else None
    model = build(neck)
    model.init_weights()
    data = dict(
        inputs=[torch.randint(0, 255, (3, 4, 32, 48), dtype=torch.uint8)] * 2,
        data_samples=make_samples(topdown))
    batch = model.data_preprocessor(data, True)
    losses = model(**batch, mode='loss')
    assert losses['loss_action'].requires_grad
    losses['loss_action'].backward()
    assert model.roi_head.fc.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(data), mode='predict')
    assert [len(s.pred_instances.scores) for s in out] == [2, 1]
    assert out[0].pred_instances.scores.shape[1] == 3


def test_rejects_images():
    model = build()
    with pytest.raises(ValueError, match='N, C, T, H, W'):
        model(torch.rand(1, 3, 32, 32), make_samples()[:1], mode='predict')


def test_roi_scale_follows_the_backbone_stride():
    """Without query pooling into its last stage the map is twice as fine
    and the head pools it at stride 4; the top-down neck still fits."""
    torch.manual_seed(0)
    neck = dict(
        type='TopDownModulation',
        stage0_channels=32,
        block_indices=(2, ),
        block_channels=(64, ),
        embed_dims=16,
        num_heads=1,
        max_tokens=16)
    coarse = build(neck)
    fine = build(neck, stage_q_strides=((1, 1, 1), (1, 1, 1)))
    assert (coarse.feat_stride, fine.feat_stride) == (8, 4)
    fine.init_weights()
    fine.eval()
    x = torch.randn(2, 3, 4, 32, 48)
    samples = make_samples(True)
    with torch.no_grad():
        assert fine(x, samples)[-1][0].shape[-2:] == (8, 12)
        assert coarse(x, samples)[-1][0].shape[-2:] == (4, 6)
        out = fine(x, samples, mode='predict')
    assert out[0].pred_instances.scores.shape == (2, 3)
    with pytest.raises(ValueError, match='equal height and width strides'):
        build(stage_q_strides=((1, 1, 1), (1, 2, 1)))
