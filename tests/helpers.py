"""What several test modules need: the repository root, tool scripts as
modules, two-process CPU training runs, and the records of mmengine's
logger."""
import importlib.util
import logging
import os
import os.path as osp
import socket
import subprocess
import sys
from types import ModuleType

from mmengine.logging import MMLogger

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(path: str) -> ModuleType:
    """Imports the script at ``path`` (relative to the repository root, e.g.
    ``'tools/demo/ava_demo.py'``) as a module."""
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_script(script: str,
               *args,
               cwd: str = ROOT,
               check: bool = False) -> subprocess.CompletedProcess:
    """Runs ``script`` (relative to the repository root) with this Python in
    a fresh process, as a user would; with ``check`` asserts it succeeded,
    showing the end of its output otherwise."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable,
         osp.join(ROOT, script), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _two_processes(launcher: str, args: list,
                   check: bool) -> subprocess.CompletedProcess:
    """Runs ``tools/<launcher> *args`` on two CPU processes (gloo)."""
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        PORT=str(free_port()),
        OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    cmd = ['bash', osp.join(ROOT, 'tools', launcher), *map(str, args)]
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def dist_train(config: str,
               work_dir: str,
               *args: str,
               check: bool = True) -> subprocess.CompletedProcess:
    """Runs ``tools/dist_train.sh config 2`` (two CPU processes, gloo) with
    ``--work-dir work_dir`` and ``args``; with ``check`` asserts it
    succeeded, showing the end of its output otherwise."""
    return _two_processes('dist_train.sh',
                          [config, 2, '--work-dir', work_dir, *args], check)


def dist_test(config: str,
              checkpoint: str,
              work_dir: str,
              *args: str,
              check: bool = False) -> subprocess.CompletedProcess:
    """Runs ``tools/dist_test.sh config checkpoint 2`` (two CPU processes,
    gloo) with ``--work-dir work_dir`` and ``args``, as :func:`dist_train`."""
    return _two_processes(
        'dist_test.sh', [config, checkpoint, 2, '--work-dir', work_dir, *args],
        check)


class LogRecords(logging.Handler):
    """Collects the records of mmengine's current logger."""

    def __enter__(self):
        self.records = []
        MMLogger.get_current_instance().addHandler(self)
        return self.records

    def __exit__(self, *exc):
        MMLogger.get_current_instance().removeHandler(self)

    def emit(self, record):
        self.records.append(record)
