"""The label-space bridge in a real CoTrainRecognizer (MViT ``xs``): which
rows of the video head image batches train, and the losses' values."""
import pytest
import torch
import torch.nn.functional as F

from mvitx.datasets.class_maps import COLUMNS
from mvitx.registry import MODELS
from mvitx.structures import ActionDataSample
from mvitx.utils import register_all_modules

register_all_modules()

NUM_IMG, NUM_VID = 6, 5
#: image classes 0 and 1 -> video class 3 (many-to-one), 2 -> 1; 3-5 stay
#: unmapped; video classes 0, 2 and 4 are not shared.
PAIRS = ((0, 3), (1, 3), (2, 1))
SHARED = [1, 3]


def _write_map(tmp_path, pairs=PAIRS):
    path = tmp_path / 'map.csv'
    rows = ''.join(f'{s},img{s},{d},vid{d},1.0,token,yes\n' for s, d in pairs)
    path.write_text(','.join(COLUMNS) + '\n' + rows)
    return str(path)


def _model(bridge=None):
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='CoTrainRecognizer',
            backbone=dict(type='MViT', arch='xs'),
            heads=dict(
                img=dict(type='ClsHead', num_classes=NUM_IMG, in_channels=64),
                vid=dict(type='ClsHead', num_classes=NUM_VID, in_channels=64)),
            bridge=bridge,
            data_preprocessor=dict(type='ActionDataPreprocessor')))
    model.init_weights()
    return model


def _bridge(path, **kwargs):
    return dict(
        type='LabelBridge',
        class_map=path,
        image_source='img',
        video_source='vid',
        **kwargs)


def _image_batch(model, labels):
    samples = []
    for label in labels:
        sample = ActionDataSample(
            metainfo=dict(source='img', modality='image'))
        sample.gt_label = torch.tensor([label])
        samples.append(sample)
    inputs = [
        torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8) for _ in labels
    ]
    return model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True)


def _video_grad_rows(model, loss):
    model.zero_grad()
    loss.backward()
    grad = model.heads['vid'].fc.weight.grad
    return None if grad is None else grad.abs().sum(1)


def test_image_batches_train_only_the_shared_rows(tmp_path):
    model = _model(_bridge(_write_map(tmp_path)))
    data = _image_batch(model, [0, 4, 2, 1])
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss/img', 'loss_bridge_rows'}
    rows = _video_grad_rows(model, sum(losses.values()))
    assert (rows[SHARED] > 0).all()
    assert (rows[[0, 2, 4]] == 0).all()
    # Samples of unmapped classes contribute nothing: a batch of them gives
    # a zero loss and no gradient to any row.
    data = _image_batch(model, [4, 5, 3])
    losses = model(**data, mode='loss')
    assert losses['loss_bridge_rows'].item() == 0
    assert (_video_grad_rows(model, sum(losses.values())) == 0).all()


def test_without_a_bridge_image_batches_leave_the_video_head_alone():
    model = _model()
    losses = model(**_image_batch(model, [0, 1]), mode='loss')
    assert set(losses) == {'loss/img'}
    assert _video_grad_rows(model, losses['loss/img']) is None


def test_shared_rows_loss_is_cross_entropy_over_the_shared_rows(tmp_path):
    model = _model(_bridge(_write_map(tmp_path), shared_rows_weight=2.))
    model.eval()  # no drop path, so the features can be recomputed
    data = _image_batch(model, [0, 1, 5, 2])
    losses = model(**data, mode='loss')
    feats, _ = model.extract_feat(data['inputs'])
    logits = model.heads['vid'](feats)[:, SHARED]
    # 0 and 1 both -> video 3 (shared index 1), 2 -> video 1 (index 0); the
    # sample of class 5 is left out.
    expected = F.cross_entropy(logits[[0, 1, 3]], torch.tensor([1, 1, 0]))
    torch.testing.assert_close(losses['loss_bridge_rows'], 2 * expected)


def test_mixup_scores_are_summed_through_the_map(tmp_path):
    model = _model(_bridge(_write_map(tmp_path)))
    model.eval()
    data = _image_batch(model, [0, 4])
    data['data_samples'][0].gt_score = torch.tensor(
        [0.3, 0.3, 0.2, 0.2, 0., 0.])
    data['data_samples'][1].gt_score = torch.tensor([0., 0., 0., 0., 1., 0.])
    losses = model(**data, mode='loss')
    feats, _ = model.extract_feat(data['inputs'])
    log_p = model.heads['vid'](feats)[:, SHARED].log_softmax(1)
    # sample 0: 0.2 on video 1, 0.6 on video 3; sample 1: nothing mapped
    expected = -(0.2 * log_p[0, 0] + 0.6 * log_p[0, 1]) / 0.8
    torch.testing.assert_close(losses['loss_bridge_rows'], expected)


def test_soft_target_is_the_image_heads_detached_belief(tmp_path):
    model = _model(
        _bridge(
            _write_map(tmp_path),
            shared_rows_weight=0.,
            soft_target_weight=0.5))
    model.eval()
    data = _image_batch(model, [5, 4])
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss/img', 'loss_bridge_soft'}
    feats, _ = model.extract_feat(data['inputs'])
    prob = model.heads['img'](feats).softmax(1)
    target = torch.stack([prob[:, 2], prob[:, 0] + prob[:, 1]], 1)
    log_p = model.heads['vid'](feats)[:, SHARED].log_softmax(1)
    expected = -(target * log_p).sum() / target.sum()
    torch.testing.assert_close(losses['loss_bridge_soft'], 0.5 * expected)
    # The target is detached: the soft loss trains the video head only.
    model.zero_grad()
    losses['loss_bridge_soft'].backward()
    assert model.heads['img'].fc.weight.grad is None
    assert model.heads['vid'].fc.weight.grad[SHARED].abs().sum() > 0


def test_bad_bridges_are_refused_at_build_time(tmp_path):
    path = _write_map(tmp_path)
    with pytest.raises(KeyError, match="video_source='k400' has no head"):
        _model(dict(_bridge(path), video_source='k400'))
    with pytest.raises(ValueError, match=r'map.csv:5: src_id 6 outside'):
        _model(_bridge(_write_map(tmp_path, PAIRS + ((6, 0), ))))
    with pytest.raises(ValueError, match='reaches 1 video class'):
        _model(_bridge(_write_map(tmp_path, ((0, 3), (1, 3)))))
    with pytest.raises(ValueError, match='not both 0'):
        _model(_bridge(path, shared_rows_weight=0.))
