"""``mvitx.utils.config``: the command-line options that tools/train.py and
tools/test.py write into a config, and the checkpoint of ``--resume``."""
import os.path as osp

import pytest
from mmengine.config import Config

from mvitx.utils import find_resume_checkpoint, load_config, merge_cli_options
from tests.helpers import ROOT

CONFIG = osp.join(ROOT, 'configs', 'ava', 'mvit_xs_demo_ava.py')


def test_options_merge_after_their_checks():
    cfg = merge_cli_options(
        load_config(CONFIG), CONFIG, '/runs/a', {
            'train_cfg.max_iters': 7,
            'optim_wrapper.optimizer.lr': 1,
            'optim_wrapper.clip_grad': None,
            'model.backbone.arch': 'tiny',
            'param_scheduler.1.eta_min': 0.5,
            'train_dataloader.persistent_workers': False,
            'load_from': 'ckpt.pth',
        })
    assert cfg.train_cfg.max_iters == 7
    assert cfg.optim_wrapper.optimizer.lr == 1
    assert cfg.optim_wrapper.clip_grad is None
    assert cfg.model.backbone.arch == 'tiny'
    assert cfg.param_scheduler[1].eta_min == 0.5
    assert cfg.train_dataloader.persistent_workers is False
    # a Runner argument the config does not set
    assert cfg.load_from == 'ckpt.pth'


@pytest.mark.parametrize('key,close', [('trian_cfg.max_iters', 'train_cfg'),
                                       ('modle.backbone.arch', 'model'),
                                       ('work_dri', 'work_dir')])
def test_unknown_top_level_key_names_the_closest(key, close):
    with pytest.raises(
            KeyError,
            match=f"{CONFIG}:{key.split('.')[0]}: .*"
            f"did you mean '{close}'"):
        merge_cli_options(load_config(CONFIG), CONFIG, None, {key: 1})


def test_unknown_key_without_a_close_one_lists_the_known():
    with pytest.raises(KeyError, match='known keys: .*train_cfg'):
        merge_cli_options(load_config(CONFIG), CONFIG, None, {'xyzzy_quux': 1})


@pytest.mark.parametrize('key,value,old', [
    ('model.roi_head.num_classes', 'abc', '6 (int)'),
    ('optim_wrapper.optimizer.lr', [1, 2], '0.001 (float)'),
    ('train_dataloader.persistent_workers', 1, 'True (bool)'),
    ('train_cfg.max_iters', True, '300 (int)'),
    ('param_scheduler.0.end', 'x', '15 (int)'),
])
def test_wrong_type_for_a_number_or_bool_names_the_key(key, value, old):
    cfg = load_config(CONFIG)
    with pytest.raises(TypeError) as err:
        merge_cli_options(cfg, CONFIG, None, {
            'train_cfg.val_interval': 5,
            key: value
        })
    assert str(err.value).startswith(
        f'{CONFIG}:{key}: --cfg-options gives {value!r} '
        f'({type(value).__name__}) where the config has {old}; expected ')
    # every option is checked before any is merged
    assert cfg.train_cfg.val_interval == 100


def test_work_dir_and_relative_out_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = merge_cli_options(load_config(CONFIG), CONFIG, 'runs/x')
    assert cfg.work_dir == 'runs/x'
    for name in ('val_evaluator', 'test_evaluator'):
        assert cfg[name].out_file == str(tmp_path / 'runs' / 'x' /
                                         'ava_detections.csv')
    # without --work-dir: the config's, else one named after the config
    cfg = merge_cli_options(load_config(CONFIG), CONFIG)
    assert cfg.work_dir == 'work_dirs/mvit_xs_demo_ava'
    assert cfg.val_evaluator.out_file == str(
        tmp_path / 'work_dirs' / 'mvit_xs_demo_ava' / 'ava_detections.csv')
    cfg = Config(
        dict(
            val_evaluator=[
                dict(type='AccMetric'),
                dict(type='AVAMetric', out_file='sub/det.csv'),
                dict(type='AVAMetric', out_file='/abs/det.csv'),
                dict(type='AVAMetric')
            ],
            test_evaluator=dict(type='AccMetric')))
    merge_cli_options(cfg, 'configs/some/name.py')
    assert cfg.work_dir == osp.join('./work_dirs', 'name')
    assert [m.get('out_file') for m in cfg.val_evaluator] == [
        None,
        str(tmp_path / 'work_dirs' / 'name' / 'sub' / 'det.csv'),
        '/abs/det.csv',
        # the metric's default out_file goes into the work dir too
        str(tmp_path / 'work_dirs' / 'name' / 'ava_detections.csv')
    ]
    assert 'out_file' not in cfg.test_evaluator


def _work_dir_with_checkpoint(path, recorded):
    path.mkdir()
    (path / 'iter_2.pth').write_bytes(b'a checkpoint')
    (path / 'last_checkpoint').write_text(str(recorded))
    return path


def test_resume_checkpoint_is_found_in_the_current_work_dir(tmp_path):
    copy = _work_dir_with_checkpoint(tmp_path / 'copy',
                                     tmp_path / 'original' / 'iter_2.pth')
    cfg = Config(dict(work_dir=str(copy)))
    assert find_resume_checkpoint(cfg) == str(copy / 'iter_2.pth')
    # a relative work dir gives the absolute path of the file
    cfg.work_dir = osp.relpath(copy)
    assert find_resume_checkpoint(cfg) == str(copy / 'iter_2.pth')


def test_resume_checkpoint_missing_from_the_work_dir_names_both(tmp_path):
    copy = _work_dir_with_checkpoint(tmp_path / 'copy',
                                     tmp_path / 'original' / 'iter_9.pth')
    with pytest.raises(
            FileNotFoundError,
            match=f"{copy}/last_checkpoint names {tmp_path}/original/iter_9"
            fr"\.pth, but the work dir has no {copy}/iter_9\.pth"):
        find_resume_checkpoint(Config(dict(work_dir=str(copy))))


def test_resume_without_last_checkpoint_or_with_out_dir(tmp_path):
    assert find_resume_checkpoint(Config(dict(work_dir=str(tmp_path)))) is None
    # checkpoints saved outside the work dir stay where they were saved
    recorded = str(tmp_path / 'store' / 'run' / 'iter_2.pth')
    work_dir = _work_dir_with_checkpoint(tmp_path / 'run', recorded)
    cfg = Config(
        dict(
            work_dir=str(work_dir),
            default_hooks=dict(
                checkpoint=dict(
                    type='CheckpointHook', out_dir=str(tmp_path / 'store')))))
    assert find_resume_checkpoint(cfg) == recorded


def test_wrong_type_where_the_config_has_a_variable_names_its_value():
    """``train_cfg.max_iters`` is ``'${max_iters}'``: an option for it is
    checked against the variable's value."""
    with pytest.raises(
            TypeError,
            match=r"train_cfg\.max_iters: .*'abc' "
            r'\(str\) where the config has 300 \(int\)'):
        load_config(CONFIG, {'train_cfg.max_iters': 'abc'})
    assert load_config(CONFIG, {
        'train_cfg.max_iters': 7
    }).train_cfg.max_iters == 7
