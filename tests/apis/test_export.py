"""``mvitx.apis.export`` and ``tools/deploy/export.py``: the xs and small
recognizers exported to ONNX and ``torch.export`` give PyTorch's logits."""
import os.path as osp
import warnings

import numpy as np
import onnxruntime
import pytest
import torch

from mvitx.apis import (EXPORT_FORMATS, ExportableRecognizer,
                        export_recognizer, inference_recognizer, init_model,
                        max_abs_difference, run_exported)
from mvitx.registry import MODELS
from mvitx.utils import load_config, register_all_modules
from tests.helpers import ROOT, load_tool

#: Per arch: a config of it and the head exported.
CONFIGS = dict(
    xs=osp.join(ROOT, 'configs', 'cotrain', 'mvit_xs_demo.py'),
    small=osp.join(ROOT, 'configs', 'cotrain', 'mvit_s_in_k400.py'))
#: (arch, source, (T, H, W)): two input sizes per arch, an image (T = 1)
#: among them; small inputs keep MViTv2-S (all 16 blocks) quick on a CPU.
CASES = [
    ('xs', 'demo_img', (1, 64, 64)),
    ('xs', 'demo_vid', (4, 48, 64)),
    ('small', 'k400', (2, 32, 32)),
    ('small', 'k400', (4, 64, 48)),
]
TOLERANCE = 1e-4


def random_checkpoint(config, path):
    """Saves freshly initialised weights of the model of ``config``."""
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(load_config(config).model)
    model.init_weights()
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), path)
    return str(path)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('export')
    return {
        arch: random_checkpoint(config, tmp / f'{arch}.pth')
        for arch, config in CONFIGS.items()
    }


@pytest.fixture(scope='module')
def models(checkpoints):
    """Per arch, the model loaded by ``init_model``."""
    with warnings.catch_warnings():
        # the configs' data is not on disk: export needs no class names
        warnings.filterwarnings('ignore', 'no class names')
        return {
            arch: init_model(CONFIGS[arch], checkpoints[arch])
            for arch in CONFIGS
        }


@pytest.mark.parametrize('fmt', ['onnx', 'torch.export'])
@pytest.mark.parametrize('arch, source, shape', CASES)
def test_round_trip(models, tmp_path, arch, source, shape, fmt):
    recognizer = ExportableRecognizer(models[arch], source)
    out = export_recognizer(recognizer,
                            str(tmp_path / f'model{EXPORT_FORMATS[fmt]}'), fmt,
                            shape)
    diff = max_abs_difference(recognizer, out, fmt, shape)
    print(f'{arch} {source} {shape} {fmt}: max abs difference {diff:.3g}')
    assert diff < TOLERANCE
    # the exporters leave the model in eval mode (no dropout, drop path)
    assert not any(m.training for m in models[arch].modules())
    if fmt == 'onnx':
        (inputs, ) = onnxruntime.InferenceSession(out).get_inputs()
        assert inputs.shape == ['batch', 3, *shape]


@pytest.mark.parametrize('fmt', ['onnx', 'torch.export'])
def test_the_check_sees_other_weights(models, tmp_path, fmt):
    recognizer = ExportableRecognizer(models['xs'], 'demo_vid')
    shape = (2, 32, 32)
    out = export_recognizer(recognizer,
                            str(tmp_path / f'model{EXPORT_FORMATS[fmt]}'), fmt,
                            shape)
    with torch.no_grad():
        recognizer.head.fc.bias[3] += 1e-3
    try:
        assert max_abs_difference(recognizer, out, fmt, shape) > 5e-4
    finally:
        with torch.no_grad():
            recognizer.head.fc.bias[3] -= 1e-3


def test_exported_image_head_gives_the_pred_score(models, tmp_path):
    """The documented input: pixels normalised with the config's mean and
    std, an image as a one-frame clip; softmax gives ``pred_score``."""
    model = models['xs']
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
    expected = inference_recognizer(model, image)['demo_img'].pred_score
    recognizer = ExportableRecognizer(model, 'demo_img')
    out = export_recognizer(recognizer, str(tmp_path / 'img.onnx'), 'onnx',
                            (1, 64, 64))
    preprocessor = model.data_preprocessor.preprocessor
    pixels = torch.from_numpy(image).permute(2, 0, 1).float()
    inputs = (pixels - preprocessor.mean[:, None, None]
              ) / preprocessor.std[:, None, None]
    logits = run_exported(out, 'onnx', inputs[None, :, None])
    np.testing.assert_allclose(
        torch.from_numpy(logits).softmax(-1)[0], expected, atol=1e-6)


def test_heads_and_necks_are_checked(models):
    with pytest.raises(ValueError, match='choose one with source='):
        ExportableRecognizer(models['xs'])
    with pytest.raises(KeyError, match="no head 'k400'"):
        ExportableRecognizer(models['xs'], 'k400')
    register_all_modules()
    topdown = MODELS.build(
        load_config(
            osp.join(ROOT, 'configs', 'topdown',
                     'mvit_xs_demo_topdown.py')).model)
    with pytest.raises(ValueError, match='without a neck'):
        ExportableRecognizer(topdown)


def test_format_and_file_name_are_checked(models, tmp_path):
    recognizer = ExportableRecognizer(models['xs'], 'demo_vid')
    with pytest.raises(ValueError, match=r'written as \*\.pt2'):
        export_recognizer(recognizer, str(tmp_path / 'model.onnx'),
                          'torch.export', (2, 32, 32))
    with pytest.raises(ValueError, match='format must be one of'):
        export_recognizer(recognizer, str(tmp_path / 'model.trt'), 'trt',
                          (2, 32, 32))


def test_tool(checkpoints, tmp_path, capsys):
    out = tmp_path / 'xs.onnx'
    tool = load_tool('tools/deploy/export.py')
    assert tool.main([
        CONFIGS['xs'], checkpoints['xs'], '--format', 'onnx', '--shape', '2',
        '32', '32', '--source', 'demo_vid', '--out',
        str(out)
    ]) == 0
    printed = capsys.readouterr().out
    assert f'onnx export written to {out}; max abs difference' in printed
    assert printed.strip().endswith('(ok)') and out.is_file()
    # a tolerance no float computation meets is reported as a failure
    assert tool.main([
        CONFIGS['xs'], checkpoints['xs'], '--format', 'onnx', '--shape', '2',
        '32', '32', '--source', 'demo_vid', '--out',
        str(out), '--atol', '-1'
    ]) == 1
    assert '(above -1)' in capsys.readouterr().out
