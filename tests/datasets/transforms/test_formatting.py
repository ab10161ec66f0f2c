import numpy as np
import torch

from mvitx.datasets.transforms import PackActionInputs
from mvitx.structures import ActionDataSample


def clip(t, h=6, w=5):
    # value encodes (frame, row, col, channel) so layouts can be checked
    return np.arange(t * h * w * 3, dtype=np.int64).reshape(t, h, w, 3) % 251


def test_pack_video_layout_labels_and_meta():
    imgs = clip(4).astype(np.uint8)
    results = dict(
        imgs=imgs,
        label=7,
        clip_len=4,
        num_clips=1,
        source='k400',
        modality='video',
        img_shape=(6, 5),
        frame_inds=np.arange(4),
        flip=True,
        gt_bboxes=np.array([[0, 1, 2, 3]], np.float32),
        proposals=np.array([[1, 1, 3, 3]], np.float32))
    packed = PackActionInputs().transform(results)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 4, 6, 5)
    np.testing.assert_array_equal(inputs.numpy(), imgs.transpose(3, 0, 1, 2))
    assert isinstance(sample, ActionDataSample)
    assert sample.gt_label.tolist() == [7]
    assert sample.source == 'k400' and sample.flip is True
    assert sample.img_shape == (6, 5)
    assert sample.gt_instances.bboxes.tolist() == [[0, 1, 2, 3]]
    assert sample.proposals.bboxes.tolist() == [[1, 1, 3, 3]]
    assert 'priors' not in sample


def test_pack_multi_view_and_image():
    imgs = clip(2 * 3 * 2).astype(np.uint8)  # 3 crops x 2 clips x T=2
    packed = PackActionInputs().transform(
        dict(imgs=imgs, clip_len=2, num_clips=2, num_crops=3, label=1))
    views = packed['inputs']
    assert views.shape == (6, 3, 2, 6, 5)
    np.testing.assert_array_equal(views[4, :, 1].numpy(),
                                  imgs[9].transpose(2, 0, 1))
    image = PackActionInputs().transform(
        dict(imgs=imgs[:1], modality='image', label=[2, 5]))
    assert image['inputs'].shape == (3, 6, 5)
    np.testing.assert_array_equal(image['inputs'].numpy(),
                                  imgs[0].transpose(2, 0, 1))
    assert image['data_samples'].gt_label.tolist() == [2, 5]


def test_pack_priors():
    types = np.array([[0, 1, -1], [0, -1, -1]], np.int64)
    results = dict(
        imgs=clip(2).astype(np.uint8),
        clip_len=2,
        prior_bboxes=np.ones((2, 3, 4), np.float32),
        prior_box_types=types,
        prior_box_scores=np.full((2, 3), 0.5, np.float32),
        prior_keypoints=np.zeros((2, 1, 17, 3), np.float32))
    priors = PackActionInputs().transform(results)['data_samples'].priors
    assert priors.bboxes.shape == (2, 3, 4)
    assert priors.types.tolist() == types.tolist()
    assert priors.valid.tolist() == (types >= 0).tolist()
    assert priors.scores.dtype == torch.float32
    assert priors.keypoints.shape == (2, 1, 17, 3)
