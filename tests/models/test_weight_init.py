"""PretrainedParts: a Kinetics top-down recognizer's backbone and neck into
an AVA detector, from checkpoints written here."""
import logging
import re

import pytest
import torch

from mvitx.models.weight_init import PretrainedParts, load_matching
from mvitx.registry import MODELS
from mvitx.utils import CheckpointError, load_config, register_all_modules
from tests.helpers import ROOT, LogRecords

register_all_modules()


def warnings_of(records):
    return [r.getMessage() for r in records if r.levelno == logging.WARNING]


@pytest.fixture(scope='module')
def recognizer_cfg():
    """The demo top-down recognizer (K400 stand-in) of this repository."""
    return load_config(f'{ROOT}/configs/topdown/mvit_xs_demo_topdown.py').model


def detector(recognizer_cfg, init_cfg=None, seed=0):
    """An AVA top-down detector with the recognizer's backbone and neck
    shapes, initialised under ``seed``."""
    torch.manual_seed(seed)
    model = MODELS.build(
        dict(
            type='AVADetector',
            backbone=recognizer_cfg.backbone,
            neck=recognizer_cfg.neck,
            roi_head=dict(type='AVARoIHead', num_classes=3, in_channels=64),
            init_cfg=init_cfg))
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def recognizer_checkpoint(recognizer_cfg, tmp_path_factory):
    """A trained-looking recognizer saved as the Runner saves it."""
    torch.manual_seed(1)
    model = MODELS.build(recognizer_cfg)
    model.init_weights()
    with torch.no_grad():
        # Gates and zero-initialised layers get values an init never has.
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    path = tmp_path_factory.mktemp('k400') / 'recognizer.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=model.state_dict()), path)
    return str(path), model.state_dict()


def part(state_dict, prefix):
    return {
        k[len(prefix):]: v
        for k, v in state_dict.items() if k.startswith(prefix)
    }


def assert_state_equal(actual, expected):
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        assert torch.equal(actual[key], value), key


def test_backbone_and_neck_come_from_the_recognizer(recognizer_cfg,
                                                    recognizer_checkpoint):
    path, state = recognizer_checkpoint
    with LogRecords() as records:
        model = detector(recognizer_cfg,
                         dict(type='PretrainedParts', checkpoint=path))
    assert_state_equal(model.backbone.state_dict(), part(state, 'backbone.'))
    assert_state_equal(model.neck.state_dict(), part(state, 'neck.'))
    assert warnings_of(records) == []
    # The recognizer's classifier is not the detector's.
    assert any("not loading its ['heads']" in r.getMessage() for r in records)
    fresh = detector(recognizer_cfg)
    assert torch.equal(model.roi_head.fc.weight, fresh.roi_head.fc.weight)


def test_shape_mismatch_is_skipped_and_named(recognizer_cfg,
                                             recognizer_checkpoint, tmp_path):
    path, state = recognizer_checkpoint
    state = dict(state)
    key = 'neck.attns.0.q.weight'
    assert key in state
    good_shape = tuple(state[key].shape)
    bad_shape = (good_shape[0] + 1, ) + good_shape[1:]
    state[key] = torch.ones(bad_shape)
    bad = tmp_path / 'mismatch.pth'
    torch.save(dict(state_dict=state), bad)
    with LogRecords() as records:
        model = detector(recognizer_cfg,
                         dict(type='PretrainedParts', checkpoint=str(bad)))
    fresh = detector(recognizer_cfg)
    assert torch.equal(model.neck.attns[0].q.weight,
                       fresh.neck.attns[0].q.weight)
    assert torch.equal(model.neck.attns[0].kv.weight,
                       state['neck.attns.0.kv.weight'])
    expected = (f'skipped attns.0.q.weight: checkpoint shape {bad_shape}, '
                f'model shape {good_shape}')
    assert [w for w in warnings_of(records) if 'skipped' in w
            ] == [f'PretrainedParts: neck from {bad}: {expected}']


@pytest.mark.parametrize('layout', ['prefixed', 'bare'])
def test_backbone_only_checkpoint_keeps_a_fresh_neck(recognizer_cfg,
                                                     recognizer_checkpoint,
                                                     tmp_path, layout):
    """A backbone-only checkpoint: ``backbone.*`` keys, or the backbone's
    own state dict (as an official checkpoint is)."""
    _, state = recognizer_checkpoint
    backbone = part(state, 'backbone.')
    path = tmp_path / 'backbone.pth'
    if layout == 'prefixed':
        torch.save(
            dict(state_dict={
                f'backbone.{k}': v
                for k, v in backbone.items()
            }), path)
    else:
        torch.save(backbone, path)
    with LogRecords() as records:
        model = detector(recognizer_cfg,
                         dict(type='PretrainedParts', checkpoint=str(path)))
    assert_state_equal(model.backbone.state_dict(), backbone)
    assert_state_equal(model.neck.state_dict(),
                       detector(recognizer_cfg).neck.state_dict())
    warnings = warnings_of(records)
    assert len(warnings) == 1
    assert re.match(
        rf'PretrainedParts: {re.escape(str(path))} has no neck weights; '
        r'the neck keeps its initialisation: ', warnings[0])
    assert str(list(model.neck.state_dict())) in warnings[0]


def test_converted_backbone_fits_other_query_strides(recognizer_cfg,
                                                     recognizer_checkpoint):
    """Stride 4 into the last stage (no query pooling): the relative
    position tables of that stage are resized, every weight loads."""
    path, state = recognizer_checkpoint
    cfg = recognizer_cfg.copy()
    cfg.backbone = dict(cfg.backbone, stage_q_strides=((1, 1, 1), (1, 1, 1)))
    with LogRecords() as records:
        model = detector(cfg, dict(type='PretrainedParts', checkpoint=path))
    assert warnings_of(records) == []
    table = model.backbone.blocks[2].attn.rel_pos_h
    assert table.shape[0] > state['backbone.blocks.2.attn.rel_pos_h'].shape[0]
    assert torch.equal(model.backbone.blocks[1].attn.qkv.weight,
                       state['backbone.blocks.1.attn.qkv.weight'])


def test_errors(recognizer_cfg, tmp_path):
    with pytest.raises(ValueError, match='parts must be a non-empty'):
        PretrainedParts('x.pth', parts='backbone')
    no_neck = MODELS.build(
        dict(
            type='AVADetector',
            backbone=recognizer_cfg.backbone,
            roi_head=dict(type='AVARoIHead', num_classes=3, in_channels=64),
            init_cfg=dict(
                type='PretrainedParts', checkpoint=str(tmp_path / 'x.pth'))))
    with pytest.raises(ValueError, match="AVADetector has no 'neck'"):
        no_neck.init_weights()
    model = MODELS.build(
        dict(
            type='AVADetector',
            backbone=recognizer_cfg.backbone,
            roi_head=dict(type='AVARoIHead', num_classes=3, in_channels=64),
            init_cfg=dict(
                type='PretrainedParts',
                checkpoint=str(tmp_path / 'missing.pth'),
                parts=('backbone', ))))
    with pytest.raises(CheckpointError, match='missing.pth does not exist'):
        model.init_weights()


def test_load_matching_reports_what_did_not_load():
    module = torch.nn.Linear(2, 3)
    with LogRecords() as records:
        report = load_matching(
            module, dict(weight=torch.zeros(3, 4), extra=torch.zeros(1)),
            'linear')
    assert report.missing == ['bias']
    assert report.unexpected == ['extra']
    assert report.mismatched == [('weight', (3, 4), (3, 2))]
    assert len(warnings_of(records)) == 3
