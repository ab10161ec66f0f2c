"""Fault suite: files the analysis tools read back (issue 17: no input
file runs code)."""
import os
import pickle
import subprocess
import sys

import torch

from tests.helpers import ROOT


class _Touch:
    """Pickles as ``os.system('touch MARKER')``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def test_i02_crafted_prediction_dump_is_refused(tmp_path):
    """A crafted prediction dump (`tools/test.py --dump`) handed to
    tools/analysis/per_class_accuracy.py.

    Outcome: refused with a PickleSafetyError naming the file and the
    global; no code runs; real dumps with tensors still load.
    """
    classes = tmp_path / 'classes.txt'
    classes.write_text('a\nb\n')
    marker = tmp_path / 'PWNED'
    crafted = tmp_path / 'preds.pkl'
    crafted.write_bytes(pickle.dumps([_Touch(marker)]))
    script = os.path.join(ROOT, 'tools/analysis/per_class_accuracy.py')
    proc = subprocess.run(
        [sys.executable, script,
         str(crafted), str(classes)],
        capture_output=True,
        text=True)
    assert proc.returncode != 0
    assert 'PickleSafetyError' in proc.stderr
    assert f'{crafted} was refused: it references posix.system' in proc.stderr
    assert not marker.exists()

    real = tmp_path / 'real.pkl'
    real.write_bytes(
        pickle.dumps([
            dict(
                pred_score=torch.tensor([0.1, 0.9]),
                gt_label=torch.tensor([1]))
        ]))
    proc = subprocess.run(
        [sys.executable, script,
         str(real), str(classes)],
        capture_output=True,
        text=True)
    assert proc.returncode == 0, proc.stderr
    assert '100.0' in proc.stdout
