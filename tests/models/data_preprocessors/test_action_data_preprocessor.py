import pytest
import torch
from mmengine.structures import BaseDataElement

from mvitx.models.data_preprocessors import ActionDataPreprocessor, MixupCutmix
from mvitx.structures import ActionDataSample


def samples(n, source='k400', modality='video', labels=None):
    out = []
    for i in range(n):
        s = ActionDataSample(metainfo=dict(source=source, modality=modality))
        s.gt_label = torch.tensor([labels[i] if labels else i])
        out.append(s)
    return out


def test_normalise_video_and_image_batches():
    pre = ActionDataPreprocessor(mean=(10, 20, 30), std=(2, 4, 5))
    video = [torch.full((3, 2, 4, 4), 50, dtype=torch.uint8)] * 2
    out = pre(dict(inputs=video, data_samples=samples(2)))
    assert out['inputs'].shape == (2, 3, 2, 4, 4)
    assert out['inputs'].dtype == torch.float32
    assert out['inputs'][:, :, 0, 0, 0].tolist() == [[20, 7.5, 4]] * 2
    image = [torch.full((3, 4, 4), 50, dtype=torch.uint8)] * 3
    out = pre(dict(inputs=image, data_samples=samples(3, 'in1k', 'image')))
    assert out['inputs'].shape == (3, 3, 4, 4)
    assert out['inputs'][0, :, 1, 1].tolist() == [20, 7.5, 4]
    views = [torch.full((5, 3, 2, 4, 4), 50, dtype=torch.uint8)] * 2
    out = pre(dict(inputs=views, data_samples=samples(2)))
    assert out['inputs'].shape == (2, 5, 3, 2, 4, 4)
    assert out['inputs'][1, 4, :, 1, 0, 0].tolist() == [20, 7.5, 4]


def test_without_samples_layout_follows_dims():
    pre = ActionDataPreprocessor(mean=(10, 20, 30), std=(2, 4, 5))
    image = torch.full((2, 3, 4, 4), 50, dtype=torch.uint8)
    out = pre(dict(inputs=image))
    assert out['inputs'][1, :, 0, 0].tolist() == [20, 7.5, 4]
    assert out['data_samples'] is None
    video = torch.full((2, 3, 2, 4, 4), 50, dtype=torch.uint8)
    assert pre(dict(inputs=video))['inputs'][0, :, 1, 0,
                                             0].tolist() == [20, 7.5, 4]


def test_rejects_mixed_sources():
    pre = ActionDataPreprocessor()
    mixed = samples(1) + samples(1, source='in1k')
    with pytest.raises(ValueError, match='one source'):
        pre(
            dict(
                inputs=[torch.zeros(3, 1, 2, 2, dtype=torch.uint8)] * 2,
                data_samples=mixed))


@pytest.mark.parametrize('shape', [(3, 8, 8), (3, 2, 8, 8)])
@pytest.mark.parametrize('mode', ['mixup', 'cutmix'])
def test_batch_augments_per_source(shape, mode):
    torch.manual_seed(0)
    alphas = dict(
        mixup_alpha=0.8 if mode == 'mixup' else 0.0,
        cutmix_alpha=1.0 if mode == 'cutmix' else 0.0)
    pre = ActionDataPreprocessor(
        mean=(0, 0, 0),
        std=(1, 1, 1),
        source_cfgs=dict(
            k400=dict(num_classes=4, label_smoothing=0.0, **alphas)))
    modality = 'image' if len(shape) == 3 else 'video'
    inputs = [
        torch.zeros(shape, dtype=torch.uint8),
        torch.full(shape, 100, dtype=torch.uint8)
    ]
    data = samples(2, modality=modality, labels=[0, 3])
    out = pre(dict(inputs=inputs, data_samples=data), training=True)
    x = out['inputs']
    score = torch.stack([s.gt_score for s in out['data_samples']])
    assert score.shape == (2, 4)
    torch.testing.assert_close(score.sum(1), torch.ones(2))
    lam = score[0, 0].item()  # weight of sample 0's own label
    assert 0 < lam < 1 and score[0, 3].item() == pytest.approx(1 - lam)
    # the pixel mass of sample 1 inside sample 0 equals its label weight
    torch.testing.assert_close(x[0].mean() / 100, torch.tensor(1 - lam))
    if mode == 'cutmix':
        assert set(x.unique().tolist()) <= {0.0, 100.0}
        # the same box is cut in every frame
        if x.ndim == 5:
            torch.testing.assert_close(x[:, :, 0], x[:, :, 1])
    # other sources and evaluation are untouched
    plain = pre(
        dict(inputs=inputs, data_samples=samples(2, 'other', modality)),
        training=True)
    assert 'gt_score' not in plain['data_samples'][0]
    test = pre(dict(inputs=inputs, data_samples=samples(2, modality=modality)))
    assert 'gt_score' not in test['data_samples'][0]


def test_label_smoothing_without_mixing():
    mix = MixupCutmix(num_classes=5, mix_prob=0.0, label_smoothing=0.5)
    _, target = mix(torch.zeros(1, 3, 2, 2), torch.tensor([2]))
    torch.testing.assert_close(target, torch.tensor([[0.1, 0.1, 0.6, 0.1,
                                                      0.1]]))


def test_pads_priors_to_batch_max():
    data = samples(2)
    for sample, m, p in zip(data, (1, 3), (2, 1)):
        sample.priors = BaseDataElement(
            bboxes=torch.ones(2, m, 4),
            types=torch.zeros(2, m, dtype=torch.long),
            scores=torch.ones(2, m),
            valid=torch.ones(2, m, dtype=torch.bool),
            keypoints=torch.ones(2, p, 5, 3))
    out = ActionDataPreprocessor()(
        dict(
            inputs=[torch.zeros(3, 2, 2, 2, dtype=torch.uint8)] * 2,
            data_samples=data))
    first = out['data_samples'][0].priors
    assert first.bboxes.shape == (2, 3, 4)
    assert first.types[0].tolist() == [0, -1, -1]
    assert first.valid[0].tolist() == [True, False, False]
    assert first.scores[0].tolist() == [1, 0, 0]
    assert out['data_samples'][1].priors.keypoints.shape == (2, 2, 5, 3)
    assert out['data_samples'][1].priors.keypoints[:, 1].sum() == 0
