"""tools/convert/convert_mvit.py writes recognizer checkpoints that load
into mvitx and reproduce the source model; a file that needs more than the
safe loader is converted only with ``--unsafe-load``. (A crafted file it
refuses is a case of the fault suite, tests/faults/test_entry_points.py.)"""
import argparse
import os
import subprocess
import sys

import pytest
import torch

from mvitx.models.backbones import MViT
from mvitx.models.backbones.mvit_convert import build_torchvision_mvit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
SCRIPT = os.path.join(ROOT, 'tools', 'convert', 'convert_mvit.py')


def run(*args, check=True):
    result = subprocess.run([sys.executable, SCRIPT, *map(str, args)],
                            capture_output=True,
                            text=True,
                            cwd=ROOT)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_torchvision_to_recognizer_checkpoint(tmp_path):
    torch.manual_seed(0)
    ref = build_torchvision_mvit(
        'mvit_v2_s', (4, 64, 64), stochastic_depth_prob=0.0).eval()
    src, dst = tmp_path / 'tv.pth', tmp_path / 'mvitx.pth'
    torch.save(ref.state_dict(), src)
    run('--src', 'torchvision', src, dst)
    checkpoint = torch.load(dst, map_location='cpu')
    state = checkpoint['state_dict']
    assert checkpoint['meta']['src'] == 'torchvision'
    assert set(k for k in state if not k.startswith('backbone.')) == {
        'heads.k400.fc.weight', 'heads.k400.fc.bias'
    }
    model = MViT(arch='small', input_size=(4, 64, 64)).eval()
    model.load_state_dict(
        {
            k[9:]: v
            for k, v in state.items() if k.startswith('backbone.')
        },
        strict=True)
    x = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        logits = model(x)[-1][1] @ state['heads.k400.fc.weight'].t()
        logits += state['heads.k400.fc.bias']
        assert (logits - ref(x)).abs().max() < 1e-4


def test_timm_image_weights_with_arch_and_source(tmp_path):
    timm = pytest.importorskip('timm')
    ref = timm.create_model('mvitv2_tiny', pretrained=False, img_size=64)
    src, dst = tmp_path / 'timm.pth', tmp_path / 'mvitx.pth'
    torch.save({'state_dict': ref.state_dict()}, src)
    out = run('--src', 'timm', '--arch', 'tiny', '--source', 'in1k', src,
              dst).stdout
    # a video arch from image weights: only the class token is new
    assert "['cls_token']" in out
    state = torch.load(dst, map_location='cpu')['state_dict']
    assert state['heads.in1k.fc.weight'].shape == (1000, 768)
    assert state['backbone.patch_embed.proj.weight'].shape == (96, 3, 3, 7, 7)


def test_unsafe_load_converts_a_trusted_file_with_a_warning(tmp_path):
    """A training checkpoint that also stores its ``argparse`` arguments
    (as timm's training script does) is refused by the safe loader and
    converted with ``--unsafe-load``."""
    torch.manual_seed(0)
    ref = build_torchvision_mvit('mvit_v2_s', (4, 64, 64))
    src, dst = tmp_path / 'trained.pth', tmp_path / 'mvitx.pth'
    torch.save(
        dict(model=ref.state_dict(), args=argparse.Namespace(lr=0.1)), src)
    refused = run('--src', 'torchvision', src, dst, check=False)
    assert refused.returncode != 0 and '--unsafe-load' in refused.stderr
    assert not dst.exists()
    result = run('--src', 'torchvision', '--unsafe-load', src, dst)
    assert (f'WARNING: --unsafe-load: loading {src} with weights_only=False'
            in result.stderr)
    state = torch.load(dst, map_location='cpu')['state_dict']
    assert torch.equal(state['heads.k400.fc.weight'],
                       ref.state_dict()['head.1.weight'])


def test_bad_arguments_fail(tmp_path):
    result = run('--src', 'caffe', 'a', 'b', check=False)
    assert result.returncode != 0 and 'invalid choice' in result.stderr
