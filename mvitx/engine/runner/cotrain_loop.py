"""An iteration-based training loop that resumes without replaying data."""
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.loops import _InfiniteDataloaderIterator

from mvitx.registry import LOOPS


@LOOPS.register_module()
class CoTrainLoop(IterBasedTrainLoop):
    """mmengine's ``IterBasedTrainLoop`` whose resume is free.

    On resume at iteration ``t`` mmengine calls ``next()`` on the dataloader
    ``t`` times, loading and decoding every skipped batch. When the batch
    sampler can start at a step (``set_step``, as
    :class:`~mvitx.datasets.samplers.CoTrainBatchSampler`), this loop tells
    it ``t`` and opens a fresh dataloader iterator instead, so the resumed
    run sees exactly the batches the uninterrupted run saw from step ``t``.
    Other batch samplers fall back to mmengine's replay.

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
