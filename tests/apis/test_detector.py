"""``mvitx.apis.detector``: the mmdet detector set-up shared by the prior
extractor and the AVA inference, with a randomly initialised RTMDet built
from mmdet's shipped config."""
import math
import os.path as osp

import mmdet
import numpy as np
import pytest
import torch
from mmdet.apis import init_detector
from mmdet.datasets import CocoDataset
from mmengine.registry import DefaultScope

from mvitx.apis import detect_persons, init_mmdet_detector, mmdet_config_path
from mvitx.utils import CheckpointError
from tests.apis.test_prior_extractor import make_classes_fire

#: RTMDet-tiny on the 80 COCO classes, as shipped with mmdet.
RTMDET = 'rtmdet/rtmdet_tiny_8xb32-300e_coco.py'
#: The logit of the person class of :func:`write_person_detector`.
PERSON_LOGIT = 3.


def write_person_detector(path: str) -> str:
    """Saves a randomly initialised RTMDet-tiny (mmdet's shipped config)
    whose only detection in any frame is one frame-sized person box of score
    ``sigmoid(PERSON_LOGIT)``, with COCO class names, to ``path``."""
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = init_detector(mmdet_config_path(RTMDET), None, device='cpu')
    make_classes_fire(detector, {'person': PERSON_LOGIT})
    torch.save(
        dict(
            state_dict=detector.state_dict(),
            meta=dict(
                dataset_meta=dict(classes=CocoDataset.METAINFO['classes']))),
        path)
    return path


@pytest.fixture(scope='module')
def person_checkpoint(tmp_path_factory):
    return write_person_detector(
        str(tmp_path_factory.mktemp('rtmdet') / 'rtmdet_person.pth'))


def test_mmdet_config_path_finds_files_and_shipped_configs(tmp_path):
    own = tmp_path / 'my_detector.py'
    own.write_text('model = dict()\n')
    assert mmdet_config_path(str(own)) == str(own)
    shipped = osp.join(
        osp.dirname(mmdet.__file__), '.mim', 'configs', 'rtmdet',
        'rtmdet_tiny_8xb32-300e_coco.py')
    assert mmdet_config_path(RTMDET) == shipped
    with pytest.raises(FileNotFoundError, match='rtmdet/no_such.py'):
        mmdet_config_path('rtmdet/no_such.py')


def test_init_mmdet_detector_loads_checkpoint_in_mmdet_scope(
        person_checkpoint):
    saved = torch.load(person_checkpoint, weights_only=True)
    with DefaultScope.overwrite_default_scope('mvitx'):
        detector = init_mmdet_detector(RTMDET, person_checkpoint)
        # the caller's scope is current again
        assert DefaultScope.get_current_instance().scope_name == 'mvitx'
    assert not detector.training
    assert type(detector).__module__.startswith('mmdet.')
    assert detector.dataset_meta['classes'] == \
        saved['meta']['dataset_meta']['classes']
    state = detector.state_dict()
    assert state.keys() == saved['state_dict'].keys()
    for name, value in saved['state_dict'].items():
        assert torch.equal(state[name], value), name


class _NotAllowed:
    """A global outside the safe loader's allowlist."""


def test_init_mmdet_detector_loads_through_safe_loader(tmp_path):
    ckpt = tmp_path / 'foreign.pth'
    torch.save(dict(state_dict={}, meta=dict(extra=_NotAllowed())), ckpt)
    with pytest.raises(CheckpointError, match='refused'):
        init_mmdet_detector(RTMDET, str(ckpt))


def test_detect_persons_normalises_person_boxes(person_checkpoint):
    detector = init_mmdet_detector(RTMDET, person_checkpoint)
    frame = np.random.default_rng(0).integers(
        0, 256, (48, 80, 3), dtype=np.uint8)
    rows = detect_persons(detector, frame, score_thr=0.5)
    assert rows.dtype == np.float32 and rows.shape == (1, 5)
    np.testing.assert_allclose(rows[0, :4], [0, 0, 1, 1], atol=1e-5)
    assert rows[0, 4] == pytest.approx(
        1 / (1 + math.exp(-PERSON_LOGIT)), abs=1e-5)
    assert len(detect_persons(detector, frame, score_thr=0.99)) == 0
    detector.dataset_meta = dict(classes=('cat', 'dog'))
    with pytest.raises(ValueError, match='no "person" class'):
        detect_persons(detector, frame, score_thr=0.5)
