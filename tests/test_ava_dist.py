"""The demo AVA config trains with two CPU processes (gloo), evaluates frame
mAP and writes the official detection CSV into its work dir."""
import csv
import os.path as osp

from mvitx.datasets.ava_files import read_exclusions
from mvitx.datasets.demo import SCALES, make_ava
from tests.helpers import ROOT, dist_train

CONFIG = osp.join(ROOT, 'configs', 'ava', 'mvit_xs_demo_ava.py')


def test_demo_ava_config_trains_and_evaluates_with_two_processes(tmp_path):
    data = tmp_path / 'ava'
    make_ava(str(data), 0, SCALES['tiny'])
    ann = data / 'annotations'
    # the config's relative out_file, inside the work dir
    out_csv = tmp_path / 'work' / 'ava_detections.csv'
    proc = dist_train(
        CONFIG,
        tmp_path / 'work',
        '--cfg-options',
        f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        'train_dataloader.batch_size=2',
        'val_dataloader.batch_size=2',
        'train_dataloader.num_workers=0',
        'val_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.persistent_workers=False',
        'train_cfg.max_iters=4',
        'train_cfg.val_interval=4',
        'default_hooks.logger.interval=2',
        f'val_evaluator.ann_file={ann}/ava_val_demo.csv',
        f'val_evaluator.label_file={ann}/ava_action_list_demo.pbtxt',
        f'val_evaluator.exclude_file={ann}/'
        'ava_val_excluded_timestamps_demo.csv',
        f'val_evaluator.train_ann_file={ann}/ava_train_demo.csv',
        check=False)
    log = proc.stdout + proc.stderr
    errors = [line for line in log.splitlines() if 'Error' in line]
    assert proc.returncode == 0, '\n'.join(errors[:20]) + log[-3000:]
    assert 'Distributed launcher: pytorch' in log
    assert 'ava/mAP:' in log and 'ava/tail_mAP:' in log
    assert osp.exists(tmp_path / 'work' / 'iter_4.pth')

    # The CSV has every evaluated keyframe once per (proposal, action) and
    # nothing of the excluded one, in the official 8-column format.
    with open(out_csv, newline='') as f:
        rows = list(csv.reader(f))
    with open(ann / 'ava_val_demo.csv', newline='') as f:
        gt_keys = {(r[0], r[1]) for r in csv.reader(f)}
    excluded = read_exclusions(
        str(ann / 'ava_val_excluded_timestamps_demo.csv'))
    assert rows and all(len(r) == 8 for r in rows)
    assert {(r[0], r[1]) for r in rows} == gt_keys
    assert not {f'{r[0]},{r[1]}' for r in rows} & excluded
    for r in rows:
        box = [float(v) for v in r[2:6]]
        assert 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1
        assert 1 <= int(r[6]) <= 6 and 0 <= float(r[7]) <= 1
