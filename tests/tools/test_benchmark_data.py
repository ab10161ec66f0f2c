import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_runs_every_pipeline_and_prints_table(tmp_path):
    # A process of its own: mmaction2 registers its registries on import,
    # which must not meet the ones other tests loaded.
    script = ROOT / 'tools' / 'analysis' / 'benchmark_data.py'
    args = ['--num-videos', '1', '--num-frames', '70', '--clips', '2']
    args += ['--repeats', '1', '--work-dir', str(tmp_path)]
    proc = subprocess.run([sys.executable, str(script), *args],
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith('|')]
    names = {row.split('|')[1].strip() for row in rows}
    assert {
        'mmaction2 1.2.0', 'mvitx, decord', 'mvitx, PyAV', 'decord decode only'
    } <= names
    assert '1.00x' in proc.stdout
    assert (tmp_path / 'video_000.mp4').stat().st_size > 0
