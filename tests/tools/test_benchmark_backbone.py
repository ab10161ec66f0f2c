"""``tools/analysis/benchmark_backbone.py`` on CPU at a tiny size: both
modes timed, the table with a row per mode, the same logits, and the
operator profile of each implementation."""
from tests.helpers import run_script


def test_benchmark_prints_table_and_profiles():
    proc = run_script('tools/analysis/benchmark_backbone.py', '--device',
                      'cpu', '--frames', '4', '--size', '32', '--batch', '1',
                      '--iters', '2', '--warmup', '1', '--profile', '5')
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [[c.strip() for c in line.split('|')[1:-1]]
            for line in proc.stdout.splitlines() if line.startswith('| ')]
    assert [row[0] for row in rows[1:]] == ['train', 'infer']
    for row in rows[1:]:
        assert float(row[1]) > 0 and float(row[2]) > 0
        assert row[3].endswith('x') and float(row[3][:-1]) > 0
    diff = float(proc.stdout.split('max |logit diff| fp32 = ')[1].split()[0])
    assert diff < 1e-4
    # one profile per implementation and mode, of five operators each
    for impl in ('torchvision', 'mvitx'):
        for mode in ('train', 'infer'):
            table = proc.stdout.split(f'{impl}, {mode}: one step\n')[1]
            assert 'Self CPU' in table.splitlines()[1]
            assert 'aten::' in table
