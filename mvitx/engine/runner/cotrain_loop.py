"""An iteration-based training loop that resumes without replaying data and
accumulates gradients per source."""
from contextlib import contextmanager
from typing import Dict, List

import torch
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.loops import _InfiniteDataloaderIterator

from mvitx.registry import LOOPS


def split_batch(data_batch: dict, parts: int) -> List[dict]:
    """Cuts a collated batch into ``parts`` contiguous micro-batches.

    Args:
        data_batch (dict): Lists or tensors of one length ``N`` (mmengine's
            ``pseudo_collate``/``default_collate`` output).
        parts (int): Number of micro-batches; must divide ``N``.

    Returns:
        list[dict]: ``parts`` batches of ``N // parts`` samples each.
    """
    sizes = {len(v) for v in data_batch.values()}
    if len(sizes) != 1 or next(iter(sizes)) % parts:
        raise ValueError(f'cannot cut a batch with lengths {sorted(sizes)} '
                         f'into {parts} equal micro-batches')
    size = sizes.pop() // parts
    return [{
        key: value[i * size:(i + 1) * size]
        for key, value in data_batch.items()
    } for i in range(parts)]


@contextmanager
def accumulating(optim_wrapper: OptimWrapper, counts: int):
    """Makes the next ``counts`` ``train_step`` calls one optimiser step.

    mmengine's own accumulation (the ``accumulative_counts`` of an
    ``OptimWrapper``) is fixed for the whole run; a co-training step needs
    it per source. This sets the wrapper's counters so that, for the next
    ``counts`` updates, it divides each loss by ``counts``, skips the DDP
    gradient all-reduce (``no_sync``) before the last backward, and steps
    and zeroes the gradients after it; the counters are restored after.

    Args:
        optim_wrapper (OptimWrapper): The runner's optimiser wrapper, with
            its own ``accumulative_counts`` left at 1.
        counts (int): Micro-batches in the step.
    """
    if optim_wrapper._accumulative_counts != 1:
        raise ValueError('per-source accumulation and the optim_wrapper\'s '
                         'accumulative_counts cannot be combined')
    saved = (optim_wrapper._inner_count, optim_wrapper._max_counts,
             optim_wrapper._remainder_counts)
    optim_wrapper._accumulative_counts = counts
    optim_wrapper._inner_count, optim_wrapper._max_counts = 0, counts
    optim_wrapper._remainder_counts = 0
    try:
        yield
    finally:
        optim_wrapper._accumulative_counts = 1
        (optim_wrapper._inner_count, optim_wrapper._max_counts,
         optim_wrapper._remainder_counts) = saved
        optim_wrapper._inner_count += 1


@LOOPS.register_module()
class CoTrainLoop(IterBasedTrainLoop):
    """mmengine's ``IterBasedTrainLoop`` whose resume is free and whose
    steps may accumulate gradients over micro-batches.

    On resume at iteration ``t`` mmengine calls ``next()`` on the dataloader
    ``t`` times, loading and decoding every skipped batch. When the batch
    sampler can start at a step (``set_step``, as
    :class:`~mvitx.datasets.samplers.CoTrainBatchSampler`), this loop tells
    it ``t`` and opens a fresh dataloader iterator instead, so the resumed
    run sees exactly the batches the uninterrupted run saw from step ``t``.
    Other batch samplers fall back to mmengine's replay.

    When the batch sampler says a step holds ``k > 1`` micro-batches
    (``micro_batches(step)``, from ``CoTrainBatchSampler``'s
    ``accumulative_counts``), the step's batch is cut into ``k`` equal parts
    that go through ``train_step`` one after the other (forward and
    backward of ``1/k`` of the memory) with one optimiser step at the end:
    with mean-reduced losses the same update as the whole batch at once.
    The logged losses are the mean over the micro-batches.

    Takes the arguments of ``IterBasedTrainLoop`` (``dataloader``,
    ``max_iters``, ``val_begin``, ``val_interval``, ``dynamic_intervals``).
    """

    def run(self):
        """Trains from the current iteration to ``max_iters``."""
        batch_sampler = self.dataloader.batch_sampler
        if self._iter == 0 or not hasattr(batch_sampler, 'set_step'):
            return super().run()
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        print_log(
            f'Batch sampler seeks to step {self._iter}; no data replayed',
            logger='current')
        batch_sampler.set_step(self._iter)
        # The iterator opened in __init__ already prefetched from step 0.
        self.dataloader_iterator = _InfiniteDataloaderIterator(self.dataloader)
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            self.run_iter(next(self.dataloader_iterator))
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None
                    and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0
                         or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def run_iter(self, data_batch: dict) -> None:
        """Trains one step, over micro-batches when the sampler says so."""
        micro_batches = getattr(self.dataloader.batch_sampler, 'micro_batches',
                                None)
        counts = micro_batches(self._iter) if micro_batches else 1
        if counts == 1:
            return super().run_iter(data_batch)
        self.runner.call_hook(
            'before_train_iter', batch_idx=self._iter, data_batch=data_batch)
        outputs: Dict[str, torch.Tensor] = {}
        with accumulating(self.runner.optim_wrapper, counts):
            for part in split_batch(data_batch, counts):
                log_vars = self.runner.model.train_step(
                    part, optim_wrapper=self.runner.optim_wrapper)
                for key, value in log_vars.items():
                    outputs[key] = outputs.get(key, 0) + value / counts
        self.runner.call_hook(
            'after_train_iter',
            batch_idx=self._iter,
            data_batch=data_batch,
            outputs=outputs)
        self._iter += 1
