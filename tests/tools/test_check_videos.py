import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools' / 'data'))
import check_videos  # noqa: E402


def write_mp4(path, frames=8):
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*'mp4v'), 10, (32, 32))
    for i in range(frames):
        writer.write(np.full((32, 32, 3), 20 * i, np.uint8))
    writer.release()


@pytest.fixture
def video_list(tmp_path):
    write_mp4(tmp_path / 'ok.mp4')
    write_mp4(tmp_path / 'ok2.mp4')
    (tmp_path / 'cut.mp4').write_bytes(
        (tmp_path / 'ok.mp4').read_bytes()[:200])
    (tmp_path /
     'list.txt').write_text('ok.mp4 0\ncut.mp4 1\nok2.mp4 0\ngone.mp4 1\n')
    return tmp_path


@pytest.mark.parametrize('workers,num_frames,backend', [(1, 3, 'decord'),
                                                        (2, 0, 'decord'),
                                                        (1, 0, 'pyav'),
                                                        (1, 3, 'torchcodec')])
def test_lists_broken_files(video_list, workers, num_frames, backend):
    out = video_list / 'broken.txt'
    broken = check_videos.main([
        str(video_list / 'list.txt'), '--data-prefix',
        str(video_list), '--out',
        str(out), '--workers',
        str(workers), '--num-frames',
        str(num_frames), '--backend', backend
    ])
    expected = [str(video_list / 'cut.mp4'), str(video_list / 'gone.mp4')]
    assert broken == expected
    assert out.read_text().splitlines() == expected


def test_command_line_scans_config(video_list):
    # a wrapper of two datasets: the scan reaches both
    dataset = ('dict(type="VideoDataset", '
               f'ann_file="{video_list / "list.txt"}", '
               f'data_prefix=dict(video="{video_list}"), pipeline=[])')
    config = video_list / 'cfg.py'
    config.write_text(
        'val_dataloader = dict(dataset=dict(type="ConcatDataset",'
        f' datasets=[{dataset}, {dataset}]))\n')
    out = video_list / 'b.txt'
    proc = subprocess.run([
        sys.executable,
        str(ROOT / 'tools/data/check_videos.py'),
        str(config), '--split', 'val', '--out',
        str(out)
    ],
                          capture_output=True,
                          text=True,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert '4 of 8 files are broken' in proc.stdout
    assert 'checking' in proc.stderr  # the progress bar
    assert len(out.read_text().splitlines()) == 4
