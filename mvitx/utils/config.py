"""Reading a config and what ``tools/train.py`` and ``tools/test.py`` write
into it from their command line: variables resolved after the merge
(``load_config``), checked ``--cfg-options``, the work dir, outputs placed
under it, and the checkpoint an automatic ``--resume`` continues from."""
import copy
import difflib
import inspect
import os.path as osp
import re
from typing import Optional

from mmengine.config import Config
from mmengine.runner import Runner

from mvitx.registry import METRICS

#: Top-level keys a config may set without defining them: the Runner's
#: arguments (``resume``, ``load_from``, ``custom_hooks``...) and the keys
#: it reads from the config itself (mmengine 0.10).
RUNNER_KEYS = frozenset([
    *inspect.signature(Runner.__init__).parameters, 'activation_checkpointing',
    'compile', 'efficient_conv_bn_eval', 'find_unused_parameters',
    'model_wrapper_cfg', 'sync_bn'
]) - {'self'}

#: The evaluator entries whose relative ``out_file`` goes under the work dir.
EVALUATOR_KEYS = ('val_evaluator', 'test_evaluator')

#: A config value that stands for the top-level variable ``name``:
#: ``'${name}'``, the whole string (mmengine reads ``{{_base_.name}}`` at
#: parse time; this one is resolved after the merge).
PLACEHOLDER = re.compile(r'\$\{([A-Za-z_][A-Za-z0-9_]*)\}')


def load_config(config_file: str,
                cfg_options: Optional[dict] = None) -> Config:
    """Reads a config, merges ``cfg_options`` and resolves its variables.

    mmengine evaluates a base file before a derived file is read, so a
    derived ``clip_len = 32`` would not reach the pipelines the base built
    with its own ``clip_len``. A config therefore writes a value that
    follows a top-level variable as the placeholder ``'${clip_len}'``; it is
    replaced by the variable's value once the config, its bases and
    ``cfg_options`` (checked as in :func:`merge_cli_options`) are merged.
    A derived config or ``--cfg-options clip_len=32`` then changes every use
    in one place. A variable's value may hold placeholders too.

    Args:
        config_file (str): The config's path.
        cfg_options (dict, optional): ``--cfg-options`` as parsed by
            mmengine's ``DictAction`` (dotted keys). Defaults to None.

    Returns:
        Config: The config with no placeholder left.

    Raises:
        KeyError: A top-level key of ``cfg_options`` is unknown, or a
            placeholder names a variable the config does not define; the
            message names the config file, where the placeholder stands and
            the closest variable.
        ValueError: A placeholder is part of a longer string, or variables
            refer to each other in a cycle.
        TypeError: See :func:`merge_cli_options`.

    Examples:
        >>> # base.py:    clip_len = 16
        >>> #             pipeline = [dict(type='SampleFrames',
        >>> #                              clip_len='${clip_len}')]
        >>> # derived.py: _base_ = ['./base.py']; clip_len = 32
        >>> load_config('derived.py').pipeline[0].clip_len
        32
    """
    cfg = Config.fromfile(config_file)
    _merge_checked(cfg, config_file, cfg_options)
    resolved = {}
    for key in list(cfg.keys()):
        cfg[key] = _resolve(cfg, config_file, cfg[key], key, resolved, (key, ))
    return cfg


def _resolve(cfg: Config, config_file: str, node, where: str, resolved: dict,
             stack: tuple):
    """``node`` with every placeholder replaced; ``where`` is its dotted
    key, ``resolved`` caches variables, ``stack`` holds the variables being
    resolved (a cycle check)."""
    if isinstance(node, dict):
        return type(node)({
            k:
            _resolve(cfg, config_file, v, f'{where}.{k}', resolved, stack)
            for k, v in node.items()
        })
    if isinstance(node, (list, tuple)):
        return type(node)(
            _resolve(cfg, config_file, v, f'{where}.{i}', resolved, stack)
            for i, v in enumerate(node))
    if not isinstance(node, str) or '${' not in node:
        return node
    match = PLACEHOLDER.fullmatch(node)
    if match is None:
        raise ValueError(f'{config_file}:{where}: {node!r} is not a '
                         "placeholder; write '${name}' as the whole value")
    name = match.group(1)
    if name in stack:
        cycle = ' -> '.join((*stack, name))
        raise ValueError(f'{config_file}:{where}: variables refer to each '
                         f'other in a cycle: {cycle}')
    if name not in resolved:
        if name not in cfg:
            close = difflib.get_close_matches(name, list(cfg.keys()), n=1)
            hint = f'; did you mean {close[0]!r}?' if close else ''
            raise KeyError(f'{config_file}:{where}: {node!r} names no '
                           f'top-level variable of the config{hint}')
        resolved[name] = _resolve(cfg, config_file, cfg[name], name, resolved,
                                  (*stack, name))
    return copy.deepcopy(resolved[name])


def merge_cli_options(cfg: Config,
                      config_file: str,
                      work_dir: Optional[str] = None,
                      cfg_options: Optional[dict] = None) -> Config:
    """Writes the options the tools share into ``cfg``.

    ``cfg_options`` are checked before they are merged: a top-level key the
    config and the Runner do not know is a typo, and a value that replaces
    a number or a bool must be one too. The work dir is ``work_dir``, else
    the config's, else ``./work_dirs/<config name>``. A relative
    ``out_file`` of a ``val_evaluator``/``test_evaluator`` entry (a dict or
    a list of them; one that does not set it gets its metric's default
    ``out_file``) is then made an absolute path inside the work dir, so
    every run writes its outputs into its own work dir.

    Args:
        cfg (Config): The config read from ``config_file``; changed in
            place.
        config_file (str): Its path, for the default work dir and errors.
        work_dir (str, optional): ``--work-dir``. Defaults to None.
        cfg_options (dict, optional): ``--cfg-options`` as parsed by
            mmengine's ``DictAction`` (dotted keys). Defaults to None.

    Returns:
        Config: ``cfg``.

    Raises:
        KeyError: A top-level key of ``cfg_options`` is unknown; the message
            names the config file, the key and the closest known key.
        TypeError: A value given for a number or a bool of the config is
            not one; the message names the config file, the key, the
            config's value and the given one.
    """
    _merge_checked(cfg, config_file, cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_file))[0])
    for name in EVALUATOR_KEYS:
        metrics = cfg.get(name)
        if not isinstance(metrics, list):
            metrics = [metrics]
        for metric in metrics:
            if not isinstance(metric, dict):
                continue
            out_file = metric.get('out_file', _default_out_file(metric))
            if out_file:
                # absolute, as the Runner makes its work_dir
                metric['out_file'] = osp.abspath(
                    osp.join(cfg.work_dir, out_file))
    return cfg


def _merge_checked(cfg: Config, config_file: str,
                   cfg_options: Optional[dict]) -> None:
    """Merges ``cfg_options`` into ``cfg`` after checking each key."""
    cfg_options = cfg_options or {}
    for key, value in cfg_options.items():
        _check_option(cfg, config_file, key, value)
    cfg.merge_from_dict(cfg_options)


def _default_out_file(metric: dict) -> Optional[str]:
    """The default ``out_file`` argument of the metric ``metric`` builds,
    if it has one."""
    metric_type = metric.get('type')
    if isinstance(metric_type, str):
        metric_type = METRICS.get(metric_type)
    if metric_type is None:
        return None
    param = inspect.signature(metric_type).parameters.get('out_file')
    if param is None or param.default is inspect.Parameter.empty:
        return None
    return param.default


def _check_option(cfg: Config, config_file: str, key: str, value) -> None:
    top = key.split('.')[0]
    if top not in cfg and top not in RUNNER_KEYS:
        known = sorted(set(cfg.keys()) | RUNNER_KEYS)
        close = difflib.get_close_matches(top, known, n=1)
        hint = (f'did you mean {close[0]!r}?'
                if close else f'known keys: {", ".join(known)}')
        raise KeyError(f'{config_file}:{top}: --cfg-options {key}='
                       f'{value!r} sets a key the config does not have; '
                       f'{hint}')
    old = _current_value(cfg, key)
    if value is None or old is None:
        return
    if isinstance(old, bool):
        expected, ok = 'a bool (True or False)', isinstance(value, bool)
    elif isinstance(old, (int, float)):
        expected = 'a number'
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        return
    if not ok:
        raise TypeError(f'{config_file}:{key}: --cfg-options gives {value!r} '
                        f'({type(value).__name__}) where the config has '
                        f'{old!r} ({type(old).__name__}); expected {expected}')


def _current_value(cfg: Config, key: str):
    """The value at dotted ``key`` (list items by index), None if absent;
    a placeholder ``'${name}'`` stands for the value of variable ``name``
    (followed at most once per top-level key, so a cycle ends)."""
    parts = key.split('.')
    node = cfg.get(parts[0])
    for part in parts[1:]:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit():
            node = node[int(part)] if int(part) < len(node) else None
        else:
            return None
    for _ in range(len(cfg)):
        match = PLACEHOLDER.fullmatch(node) if isinstance(node, str) else None
        if match is None:
            break
        node = cfg.get(match.group(1))
    return node


def find_resume_checkpoint(cfg: Config) -> Optional[str]:
    """The checkpoint an automatic ``--resume`` continues from.

    mmengine records the absolute path of the latest checkpoint in
    ``<work_dir>/last_checkpoint`` and would follow it out of a work dir
    that was copied or moved. The file of that name in the current work
    dir is taken instead. A config whose ``CheckpointHook`` saves to an
    ``out_dir`` of its own keeps the recorded path: copying the work dir
    did not copy those checkpoints.

    Args:
        cfg (Config): A config with its final ``work_dir``.

    Returns:
        str | None: The checkpoint, or None when the work dir has no
        ``last_checkpoint`` (training then starts from scratch).

    Raises:
        FileNotFoundError: ``last_checkpoint`` names a file that the
            current work dir lacks; the message names both paths.
    """
    record = osp.join(cfg.work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record) as f:
        recorded = f.read().strip()
    checkpoint_hook = cfg.get('default_hooks', {}).get('checkpoint') or {}
    if checkpoint_hook.get('out_dir') is not None:
        return recorded
    local = osp.abspath(osp.join(cfg.work_dir, osp.basename(recorded)))
    if not osp.isfile(local):
        raise FileNotFoundError(
            f'{record} names {recorded}, but the work dir has no '
            f'{local}; give the checkpoint with --resume CKPT')
    return local
