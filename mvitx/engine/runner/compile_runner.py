"""mmengine's ``Runner`` with the config's ``compile`` applied to the
model's backbone, refusing to resume from a checkpoint without training
state."""
from typing import Optional, Union

from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mvitx.utils.checkpoint import check_resumable


def compile_kwargs(compile: Union[bool, dict, None]) -> Optional[dict]:
    """``torch.compile``'s keyword arguments from a config's ``compile``.

    Args:
        compile (bool | dict | None): ``True`` for the defaults, a dict of
            ``torch.compile`` keyword arguments, or None/``False`` for no
            compilation.

    Returns:
        dict | None: The arguments, ``dynamic=False`` unless ``compile``
        sets it; None when nothing is compiled.

    Raises:
        TypeError: ``compile`` is neither a bool, a dict nor None.
    """
    if compile is None or compile is False:
        return None
    if compile is True:
        compile = {}
    if not isinstance(compile, dict):
        raise TypeError(f'config key `compile` takes True, False or a dict '
                        f'of torch.compile arguments, got {compile!r}')
    return dict(dict(dynamic=False), **compile)


class BackboneCompileRunner(Runner):
    """mmengine's ``Runner`` whose ``compile`` compiles the backbone.

    mmengine compiles the whole ``train_step``, so dynamo traces the data
    preprocessor (which fails on the deep copy of a data sample's metainfo
    in ``BaseDataElement.set_metainfo``), the per-source head choice, the
    loss parsing and the optimiser wrapper. The backbone holds the compute
    and takes and returns tensors: this runner compiles it alone, in place
    (``nn.Module.compile``, so parameter names and checkpoints do not
    change), once the model is wrapped, before the first training step.
    Everything around it stays eager; validation and testing also run the
    compiled backbone.

    ``compile=True`` in the config means ``dict(dynamic=False)``; a dict
    gives ``torch.compile``'s keyword arguments (e.g.
    ``dict(backend='inductor', mode='max-autotune')``), ``dynamic``
    defaulting to False. An image batch ``(N, C, H, W)`` and a clip batch
    ``(N, C, T, H, W)`` then get a static graph each; with
    PyTorch's automatic dynamic shapes the second input shape recompiles the
    backbone with symbolic sizes, which costs several times as long to
    build. Each new input shape or train/eval switch compiles another graph,
    up to ``torch._dynamo.config.recompile_limit``, after which the
    backbone runs eagerly (PyTorch warns).

    Resuming (``--resume``) checks first that the checkpoint holds the
    optimizer's and the schedulers' state
    (:func:`~mvitx.utils.checkpoint.check_resumable`): mmengine would
    resume from a ``best_*.pth`` (weights only) and restart the schedule.

    Takes mmengine ``Runner``'s arguments.
    """

    def resume(self,
               filename: str,
               resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location='default') -> None:
        """mmengine's ``resume`` after :func:`check_resumable` (for the
        state that is resumed) of a local file; a URL (``s3://...``) is
        left to mmengine's loaders."""
        if resume_optimizer and '://' not in filename:
            check_resumable(
                filename,
                param_schedulers=resume_param_scheduler
                and self.param_schedulers is not None)
        super().resume(filename, resume_optimizer, resume_param_scheduler,
                       map_location)

    def _maybe_compile(self, target: str) -> None:
        """Compiles the backbone; ``target`` (mmengine's ``'train_step'``)
        is not what is compiled, see the class doc."""
        kwargs = compile_kwargs(self.cfg.get('compile'))
        if kwargs is None:
            return
        model = self.model.module if is_model_wrapper(
            self.model) else self.model
        backbone = getattr(model, 'backbone', None)
        if backbone is None:
            raise AttributeError(
                f'config key `compile` compiles the model\'s backbone, but '
                f'{type(model).__name__} has no `backbone`')
        backbone.compile(**kwargs)
        self.logger.info(f'Compiled the backbone with torch.compile'
                         f'({kwargs}); the first step of each input shape '
                         f'compiles a graph and is slow.')
