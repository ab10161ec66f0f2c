import sys
from pathlib import Path

import pytest
import torch

from mvitx.registry import MODELS
from mvitx.utils import load_config, register_all_modules

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'analysis'))
import topdown_gates  # noqa: E402


def save(model, path):
    """A checkpoint as the Runner writes it (meta + state_dict)."""
    torch.save(dict(meta=dict(iter=10), state_dict=model.state_dict()), path)


@pytest.fixture(scope='module')
def models():
    register_all_modules()
    cfg = load_config(str(ROOT / 'configs/topdown/mvit_xs_demo_topdown.py'))
    topdown = MODELS.build(cfg.model)
    plain = MODELS.build(dict(cfg.model, neck=None))
    return topdown, plain


def test_gate_table(models, tmp_path, capsys):
    topdown, _ = models
    gates = [attn.gate for attn in topdown.neck.attns]
    assert len(gates) == 2
    with torch.no_grad():
        for value, path in ((0.1, 'a.pth'), (0.3, 'b.pth')):
            gates[0].fill_(-value)  # absolute values are averaged
            gates[1].copy_(torch.linspace(0., 2 * value, len(gates[1])))
            save(topdown, tmp_path / path)
    rows = topdown_gates.main(
        [str(tmp_path / 'a.pth'),
         str(tmp_path / 'b.pth'), '--digits', '2'])
    assert capsys.readouterr().out.splitlines() == rows
    assert rows[0] == '| checkpoint | attns.0 | attns.1 |'
    assert rows[2] == f'| {tmp_path / "a.pth"} | 0.10 | 0.10 |'
    assert rows[3] == f'| {tmp_path / "b.pth"} | 0.30 | 0.30 |'
    assert rows[4] == '| mean ± std (2) | 0.20 ± 0.14 | 0.20 ± 0.14 |'
    assert topdown_gates.gate_magnitudes(str(tmp_path / 'a.pth')) == {
        0: pytest.approx(0.1),
        1: pytest.approx(0.1)
    }


def test_plain_checkpoint_is_named(models, tmp_path):
    _, plain = models
    save(plain, tmp_path / 'plain.pth')
    with pytest.raises(KeyError, match='plain.pth has no top-down gate'):
        topdown_gates.main([str(tmp_path / 'plain.pth')])
