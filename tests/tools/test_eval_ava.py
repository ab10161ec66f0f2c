"""``tools/analysis/eval_ava.py``: both protocols on the hand-computed
cases of the metric tests, JSON keys as ``AVAMetric``'s, the plot."""
import json
import math
import subprocess
import sys

import pytest

from mvitx.evaluation import AVAMetric
from tests.evaluation.metrics.test_ava_metric import (PROTOCOL_CASES,
                                                      write_protocol_case)
from tests.helpers import ROOT, load_tool

eval_ava = load_tool('tools/analysis/eval_ava.py')


def metric_keys(paths, protocol, tmp_path):
    """The keys ``AVAMetric`` reports on the same files (before the
    ``ava/`` prefix)."""
    metric = AVAMetric(
        ann_file=str(paths['gt']),
        label_file=str(paths['label']),
        train_ann_file=str(paths['train']),
        protocol=protocol,
        out_file=str(tmp_path / 'metric_dets.csv'))
    return list(metric.compute_metrics([]))


@pytest.mark.parametrize('protocol,gt,exclude,ap', PROTOCOL_CASES)
def test_protocols_print_and_json(tmp_path, capsys, protocol, gt, exclude, ap):
    paths = write_protocol_case(tmp_path)
    out = tmp_path / 'results.json'
    argv = [
        str(paths['det']),
        str(paths[gt]),
        str(paths['label']), '--protocol', protocol, '--train-ann',
        str(paths['train']), '--long-tail-thresholds', '2', '3', '--out',
        str(out)
    ]
    if exclude:
        argv += ['--exclusions', str(paths[exclude])]
    eval_ava.main(argv)
    printed = capsys.readouterr().out.splitlines()
    assert printed[:3] == [
        f'protocol {protocol}', f'mAP: {ap:.4f}', f'head_mAP: {ap:.4f}'
    ]
    results = json.loads(out.read_text())
    assert list(results) == metric_keys(paths, protocol, tmp_path)
    assert results['AP/1_stand'] == pytest.approx(ap)
    assert results['mAP'] == pytest.approx(ap)
    # NaN (no ground truth) is written as null.
    assert results['AP/2_sit'] is None and results['tail_mAP'] is None


def test_command_line_and_plot(tmp_path):
    paths = write_protocol_case(tmp_path)
    # A second evaluated class with ground truth, so that the plot shows
    # two classes in two bands.
    with open(paths['gt'], 'a') as f:
        f.write('v,0902,0.1,0.1,0.5,0.5,2,0\n')
    out, plot = tmp_path / 'r.json', tmp_path / 'plots' / 'per_class.png'
    proc = subprocess.run([
        sys.executable, f'{ROOT}/tools/analysis/eval_ava.py',
        str(paths['det']),
        str(paths['gt']),
        str(paths['label']), '--protocol', 'latest', '--train-ann',
        str(paths['train']), '--long-tail-thresholds', '2', '3', '--out',
        str(out), '--plot',
        str(plot)
    ],
                          capture_output=True,
                          text=True,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())
    # Class 2: ground truth, no detection -> AP 0, in the tail (1 row).
    assert results['AP/2_sit'] == 0 and results['tail_mAP'] == 0
    assert math.isclose(results['mAP'], 0.75 / 2)
    assert 'tail_mAP: 0.0000' in proc.stdout
    data = plot.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 10000


def test_plot_needs_train_ann(tmp_path, capsys):
    paths = write_protocol_case(tmp_path)
    with pytest.raises(SystemExit):
        eval_ava.main([
            str(paths['det']),
            str(paths['gt']),
            str(paths['label']), '--plot',
            str(tmp_path / 'p.png')
        ])
    assert '--plot needs --train-ann' in capsys.readouterr().err
