"""``tools/analysis/gpu_report.py`` on CPU at a tiny size: one markdown
table with a row per implementation, mode and compilation plus the
DataLoader's, and the CUDA-only cells marked as skipped. Inference only,
compiled with dynamo's ``eager`` backend: tracing MViTv2-S is what takes
the time here."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'analysis'))
import gpu_report  # noqa: E402

from tests.helpers import run_script  # noqa: E402


def _table(stdout):
    """The markdown table's header and rows, as lists of stripped cells."""
    lines = [line for line in stdout.splitlines() if line.startswith('|')]
    header, rows = lines[0], lines[2:]
    return ([c.strip() for c in header.split('|')[1:-1]],
            [[c.strip() for c in row.split('|')[1:-1]] for row in rows])


def test_report_on_cpu_marks_gpu_cells_skipped():
    proc = run_script('tools/analysis/gpu_report.py', '--device', 'cpu',
                      '--frames', '4', '--size', '32', '--batch', '1',
                      '--iters', '1', '--warmup', '1', '--workers', '1',
                      '--videos', '1', '--video-frames', '20',
                      '--data-batches', '2', '--compile-backend', 'eager',
                      '--modes', 'infer')
    assert proc.returncode == 0, proc.stderr[-3000:]
    header, rows = _table(proc.stdout)
    assert header == list(gpu_report.COLUMNS)
    assert all(len(row) == len(header) for row in rows)
    keys = [tuple(row[:3]) for row in rows]
    assert keys == [(impl, 'infer', compiled) for compiled in ('no', 'eager')
                    for impl in ('torchvision', 'mvitx')
                    ] + [('DataLoader, 1 workers', 'data', 'no')]
    for row in rows[:-1]:
        assert float(row[3]) > 0 and float(row[6]) > 0
        assert row[5] == row[7] == 'skipped (no GPU)'
        if row[0] == 'torchvision':
            assert row[4] == '1.00x'
    assert float(rows[-1][3]) > 0
    assert 'float32 (bf16 autocast skipped (no GPU))' in proc.stdout


@pytest.mark.parametrize('name, tflops', [
    ('NVIDIA H100 80GB HBM3', 989.),
    ('NVIDIA H100 PCIe', 756.),
    ('NVIDIA H200', 989.),
    ('NVIDIA A100-SXM4-80GB', 312.),
    ('NVIDIA L40S', 362.),
    ('NVIDIA L4', 121.),
    ('Tesla V100-SXM2-16GB', None),
])
def test_peak_tflops_by_device_name(name, tflops):
    assert gpu_report.peak_tflops(name) == tflops


def test_training_counts_three_forwards():
    assert gpu_report.achieved_tflops(2., 5e11, 'infer') == 1.
    assert gpu_report.achieved_tflops(2., 5e11, 'train') == 3.
