"""PlateauStoppingHook in real mmengine runs of the toy regressor whose
validation metric follows a script (one value per iteration): where it
stops, that a plateau before `begin` is not counted, and that a resumed
run stops where an uninterrupted one does."""
import pytest
from mmengine.evaluator import BaseMetric
from mmengine.logging import MessageHub
from mmengine.runner import Runner

import tests.tools.toy_components  # noqa: F401 (ToyRegressor, its dataset)
from mvitx.engine.hooks import PlateauStoppingHook
from mvitx.utils import register_all_modules

# The validation score after iteration i is SCORES[i - 1].
SCORES = (10., 20., 20.3, 20.4, 20.2, 21., 30., 30., 30., 30.)


class ScriptedMetric(BaseMetric):
    """Reports SCORES of the iteration validated (the message hub's 'iter'
    is the last training iteration, 0-based)."""

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        done = MessageHub.get_current_instance().get_info('iter') + 1
        return dict(acc=SCORES[done - 1])


def make_runner(tmp_path, max_iters, hook, resume=False, name='run'):
    loader = dict(
        dataset=dict(type='ToyRegressionDataset', length=4),
        sampler=dict(type='InfiniteSampler', shuffle=False),
        batch_size=2,
        num_workers=0,
        collate_fn=dict(type='pseudo_collate'))
    return Runner(
        model=dict(type='ToyRegressor'),
        work_dir=str(tmp_path),
        train_dataloader=loader,
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        val_dataloader=dict(loader, sampler=dict(type='DefaultSampler')),
        val_cfg=dict(),
        val_evaluator=[ScriptedMetric()],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        custom_hooks=[hook],
        resume=resume,
        default_scope='mvitx',
        # Unique per run: Runners of one name share their message hub,
        # which holds this hook's state.
        experiment_name='plateau_' + '_'.join(
            (name, tmp_path.parent.name, tmp_path.name)))


def stop_iter(tmp_path, max_iters=len(SCORES), **hook_args):
    register_all_modules()
    runner = make_runner(tmp_path, max_iters,
                         dict(type='PlateauStoppingHook', **hook_args))
    runner.train()
    return runner.iter


def test_stops_after_patience_validations_without_a_gain(tmp_path):
    # 20.3, 20.4 and 20.2 gain less than 0.5 over 20: the third of them
    # (iteration 5) ends training.
    assert stop_iter(
        tmp_path / 'a', monitor='acc', min_delta=0.5, patience=3) == 5
    # With no minimum gain 20.3 and 20.4 are gains, 20.2 is not, and a tie
    # (30 after 30) is one, as in mmengine's EarlyStoppingHook.
    assert stop_iter(tmp_path / 'b', monitor='acc', patience=2) == len(SCORES)


def test_validations_up_to_begin_are_not_counted(tmp_path):
    # 20.3 (iteration 3) is not counted; 20.4 and 20.2 are; 21 is a gain of
    # 1 over 20 and 30 one over 21; then 30 three times.
    assert stop_iter(
        tmp_path / 'a', monitor='acc', min_delta=0.5, patience=3,
        begin=3) == len(SCORES)
    assert stop_iter(
        tmp_path / 'b', monitor='acc', min_delta=0.5, patience=2, begin=3) == 5
    # 'less': the first score is the best, every later one counts.
    assert stop_iter(
        tmp_path / 'c', monitor='acc', rule='less', patience=2, begin=3) == 5


def test_resumed_run_stops_where_an_uninterrupted_one_does(tmp_path):
    register_all_modules()
    hook = dict(
        type='PlateauStoppingHook', monitor='acc', min_delta=0.5, patience=3)
    # The first run ends at iteration 4, two validations into a plateau.
    first = make_runner(tmp_path, 4, hook, name='first')
    first.train()
    assert first.message_hub.get_info('plateau_stopping/wait') == 2
    resumed = make_runner(
        tmp_path, len(SCORES), hook, resume=True, name='resumed')
    resumed.train()
    assert resumed.iter == 5
    assert resumed.message_hub.get_info('plateau_stopping/best') == 20.


def test_bad_arguments_and_missing_metric(tmp_path):
    for bad in (dict(rule='max'), dict(min_delta=-1.), dict(patience=0),
                dict(begin=-1)):
        with pytest.raises(ValueError):
            PlateauStoppingHook('acc', **bad)
    with pytest.raises(KeyError, match="'top1'.*'acc'"):
        stop_iter(tmp_path, monitor='top1')
