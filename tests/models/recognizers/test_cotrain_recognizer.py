import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseDataPreprocessor
from mmengine.optim import OptimWrapper

from mvitx.models.necks import BaseNeck
from mvitx.registry import MODELS
from mvitx.structures import ActionDataSample
from mvitx.utils import register_all_modules

register_all_modules()


@MODELS.register_module(force=True)
class PatchBackboneForTest(nn.Module):
    """Patchify + linear: ``(N, 3, T, H, W)`` or ``(N, 3, H, W)`` to a
    ``(N, 8, T, H/4, W/4)`` map, as the MViT contract says."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv3d(3, 8, (1, 4, 4), (1, 4, 4))

    def forward(self, x):
        return (self.proj(x if x.ndim == 5 else x.unsqueeze(2)), )


@MODELS.register_module(force=True)
class StackPreprocessorForTest(BaseDataPreprocessor):
    """Stacks uint8 inputs to float and counts its calls."""

    def forward(self, data, training=False):
        self.calls = getattr(self, 'calls', 0) + 1
        inputs = torch.stack(data['inputs']).float() / 255
        return dict(inputs=inputs, data_samples=data['data_samples'])


@MODELS.register_module(force=True)
class NeckForTest(BaseNeck):
    """Doubles the features and records every step of the protocol: it
    makes no context (the test backbone takes none), and its loss is 1
    when it is handed no modulation."""

    def check_backbone(self, backbone):
        self.checked = backbone

    def make_context(self, data_samples, input_shape=None):
        self.calls = getattr(self, 'calls',
                             []) + [(data_samples, tuple(input_shape))]

    def loss(self, modulation):
        return dict(loss_neck=torch.tensor(1. if modulation is None else 0.))

    def forward(self, feats, data_samples):
        self.seen = data_samples
        return tuple(f * 2 for f in feats)


def _model(**kwargs):
    cfg = dict(
        type='CoTrainRecognizer',
        backbone=dict(type='PatchBackboneForTest'),
        heads=dict(
            img=dict(type='ClsHead', num_classes=5, in_channels=8),
            vid=dict(type='ClsHead', num_classes=3, in_channels=8)),
        data_preprocessor=dict(type='StackPreprocessorForTest'))
    cfg.update(kwargs)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _sample(source, label, shape):
    sample = ActionDataSample(metainfo=dict(source=source))
    sample.gt_label = torch.tensor([label])
    return torch.randint(0, 255, shape, dtype=torch.uint8), sample


def _batch(*items):
    inputs, samples = zip(*items)
    return dict(inputs=list(inputs), data_samples=list(samples))


IMG = (3, 8, 8)
VID = (3, 2, 8, 8)


def test_single_source_batch_uses_its_head_only():
    model = _model()
    data = model.data_preprocessor(
        _batch(_sample('vid', 1, VID), _sample('vid', 2, VID)), True)
    assert data['inputs'].shape == (2, 3, 2, 8, 8)
    losses = model(**data, mode='loss')
    assert list(losses) == ['loss/vid']
    losses['loss/vid'].backward()
    assert model.heads['vid'].fc.weight.grad is not None
    assert model.heads['img'].fc.weight.grad is None


def test_joint_batch_is_split_per_source_and_losses_are_weighted():
    model = _model(loss_weights=dict(img=0.5))
    batch = _batch(
        _sample('img', 4, IMG), _sample('vid', 0, VID), _sample('img', 1, IMG))
    data = model.data_preprocessor(batch, True)
    assert model.data_preprocessor.preprocessor.calls == 2
    assert data['inputs']['img'].shape == (2, 3, 8, 8)
    assert data['inputs']['vid'].shape == (1, 3, 2, 8, 8)
    assert [s.gt_label.item() for s in data['data_samples']['img']] == [4, 1]
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss/img', 'loss/vid'}
    # The weight scales that source's head loss.
    feats, modulation = model.extract_feat(data['inputs']['img'])
    assert modulation is None
    unweighted = model.heads['img'].loss(feats, data['data_samples']['img'])
    torch.testing.assert_close(losses['loss/img'], 0.5 * unweighted)


def test_train_step_sums_per_source_losses_and_updates_both_heads():
    model = _model()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    log_vars = model.train_step(
        _batch(_sample('img', 0, IMG), _sample('vid', 2, VID)), optim)
    torch.testing.assert_close(log_vars['loss'],
                               log_vars['loss/img'] + log_vars['loss/vid'])
    after = model.state_dict()
    for key in ('heads.img.fc.weight', 'heads.vid.fc.weight',
                'backbone.proj.weight'):
        assert not torch.equal(before[key], after[key]), key


def test_predict_averages_multi_view_clips_and_keeps_samples():
    model = _model().eval()
    clips = torch.randn(2, 4, 3, 2, 8, 8)  # (N, V, C, T, H, W)
    samples = [_sample('vid', i, VID)[1] for i in range(2)]
    out = model(clips, samples, mode='predict')
    assert out[0] is samples[0] and out[0].pred_score.shape == (3, )
    per_view = model.heads['vid'](model.extract_feat(clips[0])[0]).softmax(-1)
    torch.testing.assert_close(out[0].pred_score, per_view.mean(0))


def test_predict_averages_multi_view_images():
    model = _model().eval()
    views = torch.randn(1, 3, 3, 8, 8)  # (N, V, C, H, W)
    sample = ActionDataSample(metainfo=dict(source='img', modality='image'))
    out = model(views, [sample], mode='predict')
    per_view = model.heads['img'](model.extract_feat(views[0])[0]).softmax(-1)
    torch.testing.assert_close(out[0].pred_score, per_view.mean(0))


def test_val_step_on_a_mixed_batch_predicts_every_sample():
    model = _model().eval()
    out = model.val_step(
        _batch(_sample('vid', 0, VID), _sample('img', 3, IMG)))
    assert sorted(s.pred_score.numel() for s in out) == [3, 5]


def test_tensor_mode_and_neck():
    model = _model(neck=dict(type='NeckForTest'))
    img, sample = _sample('img', 0, IMG)
    logits = model(img[None].float(), [sample], mode='tensor')
    assert logits.shape == (1, 5)
    assert model.neck.seen == [sample]
    assert model.neck.checked is model.backbone
    assert model.neck.calls == [([sample], (1, *IMG))]
    torch.testing.assert_close(
        logits,
        model.heads['img']((model.backbone(img[None].float())[0] * 2, )))
    out = model(
        dict(img=img[None].float(), vid=torch.randn(1, *VID)),
        dict(img=[sample], vid=[_sample('vid', 0, VID)[1]]),
        mode='tensor')
    assert out['img'].shape == (1, 5) and out['vid'].shape == (1, 3)
    # The neck's own losses are summed over the sources of a joint batch.
    losses = model(
        dict(img=img[None].float(), vid=torch.randn(1, *VID)),
        dict(img=[sample], vid=[_sample('vid', 0, VID)[1]]),
        mode='loss')
    assert set(losses) == {'loss/img', 'loss/vid', 'loss_neck'}
    assert losses['loss_neck'] == 2


def test_one_head_trains_samples_without_source():
    model = _model(
        heads=dict(k400=dict(type='ClsHead', num_classes=3, in_channels=8)))
    clip, sample = _sample(None, 2, VID)
    data = model.data_preprocessor(_batch((clip, sample)), True)
    assert list(model(**data, mode='loss')) == ['loss/k400']
    assert 'heads.k400.fc.weight' in model.state_dict()


def test_unknown_source_or_weight_fails_loudly():
    model = _model()
    data = model.data_preprocessor(_batch(_sample('audio', 0, VID)), True)
    with pytest.raises(KeyError, match='no head for source'):
        model(**data, mode='loss')
    with pytest.raises(KeyError, match='loss_weights'):
        _model(loss_weights=dict(audio=1.))


def test_joint_batch_splits_a_source_that_has_images_and_clips():
    # Images relabelled into the video source (ImageDataset(class_map=...))
    # do not stack with its clips: one group per modality.
    model = _model()
    items = [_sample('vid', 0, VID), _sample('vid', 2, IMG)]
    items[1][1].set_metainfo(dict(modality='image'))
    data = model.data_preprocessor(_batch(*items), True)
    assert data['inputs']['vid/video'].shape == (1, 3, 2, 8, 8)
    assert data['inputs']['vid/image'].shape == (1, 3, 8, 8)
    losses = model(**data, mode='loss')
    assert list(losses) == ['loss/vid']
    losses['loss/vid'].backward()
    assert model.heads['img'].fc.weight.grad is None
