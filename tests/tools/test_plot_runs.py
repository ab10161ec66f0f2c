"""tools/analysis/plot_runs.py and the learning-curve functions behind it,
on scalars.json files written as mmengine's LocalVisBackend writes them."""
import json

import cv2
import numpy as np
import pytest

from mvitx.visualization import (aggregate_runs, load_scalars,
                                 plot_learning_curves)
from tests.helpers import load_tool

plot_runs = load_tool('tools/analysis/plot_runs.py')


def write_run(work_dir, records, timestamp='20240101_000000'):
    vis = work_dir / timestamp / 'vis_data'
    vis.mkdir(parents=True)
    (vis / 'scalars.json').write_text(''.join(
        json.dumps(r) + '\n' for r in records))


def seed_run(tmp_path, name, offset, steps=(10, 20, 30)):
    """Loss ``1/step + offset`` at every step, ``mean/top1`` at the last."""
    work_dir = tmp_path / name
    records = [
        dict(loss=1 / s + offset, lr=0.1, iter=s, step=s) for s in steps
    ]
    records.append({'mean/top1': 50 + 10 * offset, 'step': steps[-1]})
    write_run(work_dir, records)
    return work_dir


def test_load_scalars_merges_resumed_runs(tmp_path):
    write_run(
        tmp_path,
        [dict(loss=3., step=1), dict(loss=2., step=2)], '20240101_000000')
    # A resumed run's new folder; its step 2 replaces the first one's.
    write_run(
        tmp_path,
        [dict(loss=1.5, step=2), dict(loss=1., step=3)], '20240102_000000')
    assert load_scalars(str(tmp_path)) == {'loss': {1: 3., 2: 1.5, 3: 1.}}
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        load_scalars(str(tmp_path / 'none'))


def test_aggregate_runs_over_the_runs_that_logged_each_step():
    first = {1: 1., 2: 2., 3: 3.}
    second = {2: 4., 3: 5., 4: 9.}
    steps, mean, std, counts = aggregate_runs([first, second])
    np.testing.assert_array_equal(steps, [1, 2, 3, 4])
    np.testing.assert_allclose(mean, [1., 3., 4., 9.])
    np.testing.assert_allclose(std, [0., 1., 1., 0.])
    np.testing.assert_array_equal(counts, [1, 2, 2, 1])


def test_group_curve_goes_on_dashed_after_a_run_stops(tmp_path):
    full = seed_run(tmp_path, 'full', 0, steps=(10, 20, 30, 40))
    stopped = seed_run(tmp_path, 'stopped', 1, steps=(10, 20))
    runs = [load_scalars(str(full)), load_scalars(str(stopped))]
    fig = plot_learning_curves({'seeds': runs}, ['loss'])
    solid, dashed = fig.axes[0].get_lines()
    np.testing.assert_array_equal(solid.get_xdata(), [10, 20])
    np.testing.assert_allclose(solid.get_ydata(), [1 / 10 + .5, 1 / 20 + .5])
    assert solid.get_linestyle() == '-'
    assert solid.get_label() == 'seeds (n=2), dashed: fewer runs'
    # Joined to the solid part; after step 20 only the full run is left.
    assert dashed.get_linestyle() == '--'
    np.testing.assert_array_equal(dashed.get_xdata(), [20, 30, 40])
    np.testing.assert_allclose(dashed.get_ydata(),
                               [1 / 20 + .5, 1 / 30, 1 / 40])


def test_curves_are_group_means(tmp_path):
    runs = [
        load_scalars(str(seed_run(tmp_path, f's{i}', i))) for i in range(3)
    ]
    fig = plot_learning_curves({'seeds': runs}, ['loss', 'mean/top1'])
    loss_ax, top1_ax = fig.axes
    line, = loss_ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [10, 20, 30])
    np.testing.assert_allclose(line.get_ydata(),
                               [1 / 10 + 1, 1 / 20 + 1, 1 / 30 + 1])
    assert line.get_label() == 'seeds (n=3)'
    band, = loss_ax.collections  # mean ± std over the three seeds
    low, high = band.get_paths()[0].vertices[:, 1].min(), band.get_paths(
    )[0].vertices[:, 1].max()
    assert low == pytest.approx(1 / 30 + 1 - np.std([0, 1, 2]))
    assert high == pytest.approx(1 / 10 + 1 + np.std([0, 1, 2]))
    np.testing.assert_allclose(top1_ax.get_lines()[0].get_ydata(), [60.])
    with pytest.raises(KeyError, match='grad_norm'):
        plot_learning_curves({'seeds': runs}, ['grad_norm'])


def test_table_best_per_run_and_runs_that_stopped_early(tmp_path):
    early = tmp_path / 'early'
    write_run(early, [{'acc': 40., 'step': 10}, {'acc': 70., 'step': 20}])
    late = tmp_path / 'late'
    write_run(late, [{
        'acc': 50.,
        'step': 10
    }, {
        'acc': 50.,
        'step': 20
    }, {
        'acc': 90.,
        'step': 30
    }, {
        'acc': 80.,
        'step': 40
    }])
    table = plot_runs.summary_table(
        {'g': [load_scalars(str(early)),
               load_scalars(str(late))]}, 'acc', [10, 40])
    header, rule, row = table.splitlines()
    assert header.startswith('| group | runs | best acc |')
    assert row == ('| g | 2 | 80.0 ± 14.1 | 70.0, 90.0 | 20, 30 | 20, 40 '
                   '| 45.0 ± 7.1 | 80.0 (n=1) |')
    row = plot_runs.summary_table({
        'g': [load_scalars(str(early))]
    },
                                  'acc',
                                  digits=3).splitlines()[-1]
    assert row == '| g | 1 | 70.000 | 70.000 | 20 | 20 |'


def test_cli_writes_png(tmp_path, capsys):
    single = seed_run(tmp_path, 'baseline', 0.5)
    seeds = [str(seed_run(tmp_path, f'seed{i}', i)) for i in range(2)]
    out = tmp_path / 'fig' / 'curves.png'
    plot_runs.main([
        str(single), '--group', 'cotrain=' + ','.join(seeds), '--out',
        str(out), '--keys', 'loss', 'mean/top1'
    ])
    image = cv2.imread(str(out))
    assert image is not None and image.shape[1] > image.shape[0]
    assert str(out) in capsys.readouterr().out
    # The table: best top-1 per group, its step, the last step, values at
    # given steps.
    plot_runs.main([
        '--group', 'cotrain=' + ','.join(seeds), '--out',
        str(out), '--keys', 'loss', '--table', 'mean/top1', '--at', '30', '40'
    ])
    row = capsys.readouterr().out.splitlines()[-1]
    assert row == ('| cotrain | 2 | 55.0 ± 7.1 | 50.0, 60.0 | 30, 30 | '
                   '30, 30 | 55.0 ± 7.1 | - |')
    with pytest.raises(KeyError, match='grad_norm'):
        plot_runs.summary_table({'x': [load_scalars(seeds[0])]}, 'grad_norm')
    with pytest.raises(ValueError, match='NAME=DIR1,DIR2'):
        plot_runs.parse_groups([], ['oops'])
    with pytest.raises(SystemExit):
        plot_runs.parse_args(['--out', str(out)])
