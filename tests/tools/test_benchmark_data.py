import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'analysis'))
import benchmark_data  # noqa: E402


def test_benchmark_runs_every_pipeline_and_prints_table(tmp_path):
    # A process of its own: mmaction2 registers its registries on import,
    # which must not meet the ones other tests loaded.
    script = ROOT / 'tools' / 'analysis' / 'benchmark_data.py'
    args = ['--num-videos', '1', '--num-frames', '70', '--clips', '2']
    args += ['--rounds', '2', '--repeat-aug', '3']
    args += ['--work-dir', str(tmp_path), '--inputs']
    args += ['h264 340x256 gop48', 'mp4v 340x256']
    proc = subprocess.run([sys.executable, str(script), *args],
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [
        line.split('|')[1:-1] for line in proc.stdout.splitlines()
        if line.startswith('| ')
    ][1:]
    cells = {(r[0].strip(), r[1].strip()): r for r in rows}
    pipelines = {
        'mmaction2 1.2.0 (decord)', 'mvitx, decord', 'mvitx, PyAV',
        'mvitx, torchcodec', 'mvitx, PyAV, 3 clips per decode (repeated aug.)'
    }
    assert set(cells) == {(i, p)
                          for i in ('h264 340x256 gop48', 'mp4v 340x256')
                          for p in pipelines}
    # The reference's ratio to itself, in CPU and in wall time.
    ref = cells['mp4v 340x256', 'mmaction2 1.2.0 (decord)']
    assert ref[3].strip() == ref[5].strip() == '1.00x'
    assert 'load average' in proc.stdout
    assert (tmp_path / 'h264_340x256_gop48_000.mp4').stat().st_size > 0


def test_h264_inputs_have_b_frames_and_the_gop_asked(tmp_path):
    path = str(tmp_path / 'v.mp4')
    benchmark_data.write_video(path, 'libx264', (340, 256), 48, 'medium', 100)
    info = benchmark_data.describe_video(path)
    assert info['frames'] == 100
    assert info['b_frames'] > 30
    assert info['key_frames'] == [0, 48, 96]
    # x264's non-reference B-frames, which no other frame depends on
    assert 0 < info['ref_frames'] < info['frames'] - 30
    assert 0 < info['ref_cost'] < 1.5


def test_repeated_augmentation_counts_every_clip_of_a_decode():
    decodes = []

    def pipeline(results):
        decodes.append(results['filename'])
        return [dict(inputs=np.zeros((3, 16, 8, 8)))] * 3

    benchmark_data.time_clips(pipeline, ['a.mp4', 'b.mp4'], 7)
    # 7 clips asked, 3 per decode: 3 decodes, 9 clips counted
    assert decodes == ['a.mp4', 'b.mp4', 'a.mp4']
