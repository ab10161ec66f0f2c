"""Stops training once a validation metric has stopped improving, counted
from a given iteration on (e.g. the end of the learning-rate decay), with
its state kept in checkpoints so that a resumed run stops where an
uninterrupted one would."""
import math
from typing import Dict, Optional

from mmengine.hooks import Hook

from mvitx.registry import HOOKS


@HOOKS.register_module()
class PlateauStoppingHook(Hook):
    """Ends training after ``patience`` validations in a row that did not
    improve ``monitor`` by at least ``min_delta`` over its best, counting
    only validations after iteration ``begin``; the best is taken over the
    whole run and, as in mmengine's ``EarlyStoppingHook``, is the last
    score that was such a gain.

    With ``begin`` at the end of a decaying schedule, a run is never cut on
    a plateau of the high-learning-rate phase (where mmengine's
    ``EarlyStoppingHook`` stops runs that would still take off), yet it
    goes on, at the final learning rate, for as long as validation still
    improves: "trained until validation stops improving". The best score
    and the count of validations without a gain live in the message hub
    (``plateau_stopping/best``, ``plateau_stopping/wait``), which mmengine
    saves in every checkpoint and restores on resume.

    Args:
        monitor (str): Metric key, e.g. ``'mean/top1'``.
        rule (str): ``'greater'`` (higher is better) or ``'less'``.
            Defaults to 'greater'.
        min_delta (float): Smallest change that counts as a gain (in the
            metric's units). Defaults to 0.
        patience (int): Validations after ``begin`` without a gain that end
            training. Defaults to 5.
        begin (int): Iteration after which validations without a gain are
            counted. Defaults to 0 (from the first validation).

    Raises:
        ValueError: On an unknown ``rule``, a negative ``min_delta`` or
            ``begin``, or a ``patience`` below 1.
        KeyError: After validation, if the metrics lack ``monitor`` (the
            message lists those that exist).
    """

    priority = 'LOWEST'

    def __init__(self,
                 monitor: str,
                 rule: str = 'greater',
                 min_delta: float = 0.,
                 patience: int = 5,
                 begin: int = 0):
        if rule not in ('greater', 'less'):
            raise ValueError(f"rule must be 'greater' or 'less', not {rule!r}")
        if min_delta < 0 or begin < 0 or patience < 1:
            raise ValueError('need min_delta >= 0, begin >= 0 and patience '
                             f'>= 1; got {min_delta}, {begin}, {patience}')
        self.monitor = monitor
        self.sign = 1. if rule == 'greater' else -1.
        self.min_delta = min_delta
        self.patience = patience
        self.begin = begin

    def before_run(self, runner) -> None:
        if not hasattr(runner.train_loop, 'stop_training'):
            raise TypeError(f'{type(runner.train_loop).__name__} has no '
                            'stop_training flag; PlateauStoppingHook needs '
                            "mmengine's loops or mvitx's CoTrainLoop")

    def after_val_epoch(self,
                        runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        """Updates the best score and the count; stops training when the
        count reaches ``patience``."""
        metrics = metrics or {}
        if self.monitor not in metrics:
            raise KeyError(f'PlateauStoppingHook monitors {self.monitor!r}, '
                           f'which validation did not report; it reported '
                           f'{sorted(metrics)}')
        hub = runner.message_hub
        score = self.sign * float(metrics[self.monitor])
        best = hub.get_info('plateau_stopping/best', -math.inf)
        wait = hub.get_info('plateau_stopping/wait', 0)
        if score >= best + self.min_delta:
            best, wait = score, 0
        elif runner.iter > self.begin:
            wait += 1
        hub.update_info('plateau_stopping/best', best)
        hub.update_info('plateau_stopping/wait', wait)
        if wait >= self.patience:
            runner.train_loop.stop_training = True
            runner.logger.info(
                f'PlateauStoppingHook: {self.monitor} has not gained '
                f'{self.min_delta} over its best {self.sign * best:.4g} in '
                f'{wait} validations after iteration {self.begin}; training '
                f'stops at iteration {runner.iter}')
