import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.fileio import dump

from mvitx.structures import ActionDataSample

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'analysis'))
import per_class_accuracy  # noqa: E402

CLASSES = ['circle slides', 'hand closes', 'hand opens', 'object falls']


def sample(gt, pred, num_classes=4):
    """A data sample as ``DumpResults`` stores it: a dict of tensors."""
    score = torch.full((num_classes, ), 0.1)
    score[pred] = 0.7
    data_sample = ActionDataSample()
    data_sample.gt_label = torch.tensor([gt])
    data_sample.pred_score = score
    return data_sample.to_dict()


@pytest.fixture
def dumped(tmp_path):
    # (gt, pred): class 0 2/2 right, class 1 1/3, class 2 0/1, class 3 none
    pairs = [(0, 0), (0, 0), (1, 1), (1, 2), (1, 0), (2, 1)]
    dump([sample(gt, pred) for gt, pred in pairs], str(tmp_path / 'p.pkl'))
    (tmp_path / 'classes.txt').write_text('\n'.join(CLASSES) + '\n')
    return tmp_path


def test_table(dumped, capsys):
    runs = per_class_accuracy.main([
        str(dumped / 'p.pkl'),
        str(dumped / 'classes.txt'), '--groups', 'fine=hand closes,hand opens',
        'coarse=circle slides,object falls'
    ])
    assert len(runs) == 1
    rows = runs[0]
    table = {name: (acc, num) for name, acc, num in rows}
    assert table['overall'] == (pytest.approx(100 * 3 / 6), 6)
    assert table['circle slides'] == (pytest.approx(100.0), 2)
    assert table['hand closes'] == (pytest.approx(100 / 3), 3)
    assert table['hand opens'] == (0.0, 1)
    assert math.isnan(table['object falls'][0])
    assert table['object falls'][1] == 0
    assert table['group: fine'] == (pytest.approx(25.0), 4)
    assert table['group: coarse'] == (pytest.approx(100.0), 2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == '| classes | top-1 (%) | samples |'
    assert '| overall | 50.00 | 6 |' in out
    assert '| group: fine | 25.00 | 4 |' in out
    assert len(out) == 2 + 1 + len(CLASSES) + 2


def test_several_runs(dumped, capsys):
    """Several dumps: mean ± sample std over the runs and each run's value,
    in the order given."""
    # Run 2: class 0 1/2 right, class 1 3/3, class 2 1/1.
    pairs = [(0, 0), (0, 3), (1, 1), (1, 1), (1, 1), (2, 2)]
    dump([sample(gt, pred) for gt, pred in pairs], str(dumped / 'q.pkl'))
    runs = per_class_accuracy.main([
        str(dumped / 'p.pkl'),
        str(dumped / 'q.pkl'),
        str(dumped / 'classes.txt'), '--groups', 'fine=hand closes,hand opens'
    ])
    assert [rows[0][1]
            for rows in runs] == [pytest.approx(50.0),
                                  pytest.approx(500 / 6)]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ('| classes | top-1 (%), mean ± std of 2 runs | per run '
                      '| samples per run |')
    # circle slides: 100 and 50; the fine group: 1/4 and 4/4 right.
    assert '| circle slides | 75.00 ± 35.36 | 100.00, 50.00 | 2 |' in out
    assert '| group: fine | 62.50 ± 53.03 | 25.00, 100.00 | 4 |' in out
    assert '| overall | 66.67 ± 23.57 | 50.00, 83.33 | 6 |' in out
    assert len(out) == 2 + 1 + len(CLASSES) + 1


def test_unknown_class_in_group(dumped):
    with pytest.raises(ValueError, match='unknown class'):
        per_class_accuracy.main([
            str(dumped / 'p.pkl'),
            str(dumped / 'classes.txt'), '--groups', 'fine=hand waves'
        ])
    with pytest.raises(ValueError, match='NAME=CLS1'):
        per_class_accuracy.parse_groups(['hand closes'], CLASSES)


def test_command_line(dumped):
    out = subprocess.run([
        sys.executable,
        str(ROOT / 'tools' / 'analysis' / 'per_class_accuracy.py'),
        str(dumped / 'p.pkl'),
        str(dumped / 'classes.txt'), '--groups', 'fine=hand closes,hand opens'
    ],
                         check=True,
                         capture_output=True,
                         text=True).stdout
    assert '| hand closes | 33.33 | 3 |' in out
    assert '| group: fine | 25.00 | 4 |' in out


def test_plot(dumped, capsys):
    out = dumped / 'bars.png'
    rows, = per_class_accuracy.main([
        str(dumped / 'p.pkl'),
        str(dumped / 'classes.txt'), '--plot',
        str(out)
    ])
    assert out.stat().st_size > 0
    # The chart draws the table's class rows.
    fig = per_class_accuracy.plot_per_class_accuracy(
        CLASSES, [acc for _, acc, _ in rows[1:5]], [n for *_, n in rows[1:5]])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == CLASSES
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == pytest.approx([100.0, 100 / 3, 0.0, 0.0])
    assert 'no samples' in [t.get_text() for t in ax.texts]
