"""Faults at the entry points: crafted and damaged checkpoints, mistyped
``--cfg-options``, outputs and resumes that must stay in the run's work dir,
temporary files of killed extraction runs, a rank killed mid-training and
distributed evaluation of a split that does not divide evenly."""
import os
import os.path as osp
import re
import shlex
import shutil
import signal
import subprocess
import sys

import mmengine
import pytest
import torch
from mmengine.hooks import Hook

from mvitx.datasets.demo import SCALES, make_ava, make_kinetics
from mvitx.datasets.prior_store import save_priors
from mvitx.models.backbones import MViT
from mvitx.registry import HOOKS, MODELS
from mvitx.utils import (CheckpointError, load_checkpoint_file, load_config,
                         register_all_modules)
from tests.datasets.test_prior_store import make_fields
from tests.helpers import ROOT, dist_test, dist_train, load_tool, run_script
from tests.tools.test_dist_train import CONFIG as TOY_CONFIG
from tests.tools.test_extract_priors import tool_args, write_video

AVA_CONFIG = osp.join(ROOT, 'configs', 'ava', 'mvit_xs_demo_ava.py')
VIDEO_CONFIG = osp.join(ROOT, 'configs', 'cotrain', 'mvit_xs_demo_video.py')
#: What the safe loader says about each kind of bad checkpoint.
REFUSAL = dict(
    truncated='is truncated or is not a torch checkpoint',
    malicious='was refused')


class _TouchesMarker:
    """Unpickling it runs ``touch <marker>``, as a crafted file would."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {shlex.quote(self.marker)}', )


def write_bad_checkpoint(path, kind, marker):
    """Writes a checkpoint of ``kind``: ``'truncated'`` (the first half of
    a real one) or ``'malicious'`` (a real one whose unpickling touches
    ``marker``)."""
    checkpoint = dict(
        meta=dict(iter=2), state_dict=dict(weight=torch.arange(256.)))
    if kind == 'malicious':
        checkpoint['meta']['note'] = _TouchesMarker(marker)
    torch.save(checkpoint, path)
    if kind == 'truncated':
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])


@pytest.fixture(params=sorted(REFUSAL))
def bad_checkpoint(request, tmp_path):
    """``(path, marker, refusal message)`` of a truncated or a malicious
    checkpoint."""
    path, marker = tmp_path / f'{request.param}.pth', tmp_path / 'MARKER'
    write_bad_checkpoint(path, request.param, marker)
    return path, marker, f'Checkpoint {path} {REFUSAL[request.param]}'


def random_checkpoint(config, path):
    """Saves the initial weights of the model of ``config`` to ``path``."""
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(load_config(config).model)
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), path)
    return path


@pytest.fixture(scope='module')
def toy_config(tmp_path_factory):
    """The toy regression config of the training tool tests."""
    path = tmp_path_factory.mktemp('toy') / 'toy.py'
    path.write_text(TOY_CONFIG.format(root=ROOT))
    return path


@pytest.fixture(scope='module')
def kinetics(tmp_path_factory):
    """The demo generator's validation videos (one per class) with a list
    file of 7 of them, ``val7_list.txt``: 7 divides into neither two ranks
    nor batches of two."""
    root = tmp_path_factory.mktemp('kinetics')
    make_kinetics(str(root), 0, dict(train_videos=0, val_videos=1), 64, 16)
    lines = (root / 'val_list.txt').read_text().splitlines(keepends=True)
    (root / 'val7_list.txt').write_text(''.join(lines[:7]))
    return root


@pytest.fixture(scope='module')
def video_checkpoint(tmp_path_factory):
    return random_checkpoint(
        VIDEO_CONFIG,
        tmp_path_factory.mktemp('ckpt') / 'mvit_xs_demo_video.pth')


def video_test_options(kinetics):
    """``--cfg-options`` that test the demo video config on ``kinetics``'s
    7 videos, two at a time."""
    dataset = 'test_dataloader.dataset.datasets.demo_vid'
    return [
        '--cfg-options', f'{dataset}.data_root={kinetics}',
        f'{dataset}.ann_file=val7_list.txt', 'test_dataloader.batch_size=2',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ]


def test_i01_converter_refuses_checkpoint_that_runs_code(tmp_path):
    """A checkpoint whose unpickling runs ``touch MARKER``, given to
    ``tools/convert/convert_mvit.py``.

    Outcome: refused with a ``CheckpointError`` naming the file and
    ``--unsafe-load``; nothing runs and no output is written.
    """
    src, dst, marker = tmp_path / 'evil.pth', tmp_path / 'out.pth', \
        tmp_path / 'MARKER'
    write_bad_checkpoint(src, 'malicious', marker)
    proc = run_script('tools/convert/convert_mvit.py', '--src', 'torchvision',
                      src, dst)
    assert proc.returncode != 0
    assert f'CheckpointError: Checkpoint {src} was refused' in proc.stderr
    assert '--unsafe-load' in proc.stderr
    assert not marker.exists() and not dst.exists()
    # The file is real: loaded without the allowlist, it runs the command.
    torch.load(src, weights_only=False)
    assert marker.exists()


def test_i09_cfg_options_typo_of_top_level_key_names_closest(tmp_path):
    """``tools/train.py --cfg-options trian_cfg.max_iters=1``, a typo of
    the top-level key ``train_cfg``.

    Outcome: ``KeyError`` naming ``config:trian_cfg`` and the closest known
    key ``train_cfg``, before anything is built.
    """
    config = osp.join('configs', 'cotrain', 'mvit_xs_demo.py')
    work_dir = tmp_path / 'work'
    proc = run_script('tools/train.py', config, '--work-dir', work_dir,
                      '--cfg-options', 'trian_cfg.max_iters=1')
    assert proc.returncode != 0
    assert (f'KeyError: "{config}:trian_cfg: --cfg-options '
            "trian_cfg.max_iters=1 sets a key the config does not have; "
            "did you mean 'train_cfg'?") in proc.stderr
    assert not work_dir.exists()


def test_i09_cfg_options_string_for_a_number_names_key(tmp_path):
    """``tools/train.py --cfg-options
    model.heads.demo_vid.num_classes=abc``: a string where the config has
    an int.

    Outcome: ``TypeError`` naming ``config:key``, the config's value and
    the given one, before anything is built.
    """
    config = osp.join('configs', 'cotrain', 'mvit_xs_demo.py')
    work_dir = tmp_path / 'work'
    proc = run_script('tools/train.py', config, '--work-dir', work_dir,
                      '--cfg-options', 'model.heads.demo_vid.num_classes=abc')
    assert proc.returncode != 0
    assert (f"TypeError: {config}:model.heads.demo_vid.num_classes: "
            "--cfg-options gives 'abc' (str) where the config has 10 (int); "
            'expected a number') in proc.stderr
    assert not work_dir.exists()


def test_i10_ava_detections_go_to_the_test_work_dir(tmp_path):
    """``tools/test.py`` of the AVA demo config with ``--work-dir W2``,
    next to the training run's ``work_dirs/mvit_xs_demo_ava`` (whose
    ``ava_detections.csv`` the config's ``out_file`` used to name).

    Outcome: the detections CSV is written to ``W2/ava_detections.csv``;
    the training run's file is untouched.
    """
    data = tmp_path / 'ava'
    make_ava(str(data), 0, SCALES['tiny'])
    ann = data / 'annotations'
    checkpoint = random_checkpoint(AVA_CONFIG, tmp_path / 'ava.pth')
    trained = tmp_path / 'work_dirs' / 'mvit_xs_demo_ava'
    trained.mkdir(parents=True)
    (trained / 'ava_detections.csv').write_text('the training run\n')
    work_dir = tmp_path / 'W2'
    # run from tmp_path: a path relative to the current directory lands
    # in the training run's folder there
    proc = run_script(
        'tools/test.py',
        AVA_CONFIG,
        checkpoint,
        '--work-dir',
        'W2',
        '--cfg-options',
        f'test_dataloader.dataset.data_root={data}',
        'test_dataloader.batch_size=2',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        f'test_evaluator.ann_file={ann}/ava_val_demo.csv',
        f'test_evaluator.label_file={ann}/ava_action_list_demo.pbtxt',
        f'test_evaluator.exclude_file={ann}/'
        'ava_val_excluded_timestamps_demo.csv',
        f'test_evaluator.train_ann_file={ann}/ava_train_demo.csv',
        cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert f'AVA detections written to {work_dir}/ava_detections.csv' in log
    rows = (work_dir / 'ava_detections.csv').read_text().splitlines()
    assert rows and all(len(row.split(',')) == 8 for row in rows)
    assert (trained / 'ava_detections.csv').read_text() == 'the training run\n'


def test_i11_resume_in_copied_work_dir_uses_the_copy(toy_config, tmp_path):
    """``tools/train.py --resume`` in a copy of a work dir whose original
    is deleted; its ``last_checkpoint`` holds the original's absolute path.

    Outcome: the run resumes from the checkpoint of that name in the copy.
    """
    original, copy = tmp_path / 'original', tmp_path / 'copy'
    first = run_script('tools/train.py', toy_config, '--work-dir', original,
                       '--cfg-options', 'train_cfg.max_iters=2',
                       'default_hooks.checkpoint.interval=2')
    assert first.returncode == 0, first.stderr[-3000:]
    assert (original / 'last_checkpoint').read_text() == str(original /
                                                             'iter_2.pth')
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    resumed = run_script('tools/train.py', toy_config, '--work-dir', copy,
                         '--resume', '--cfg-options', 'train_cfg.max_iters=3')
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert f'Load checkpoint from {copy / "iter_2.pth"}' in log
    assert 'resumed epoch: 0, iter: 2' in log
    assert (copy / 'iter_3.pth').is_file() and not original.exists()


def test_i11_resume_from_weights_only_checkpoint_is_refused(
        toy_config, tmp_path):
    """``tools/train.py --resume`` given a checkpoint with the weights only,
    as mmengine's ``save_best`` writes ``best_*.pth``, from iteration 2 of
    a cosine schedule.

    Outcome: ``CheckpointError`` naming the file, the missing optimizer and
    scheduler state and what to resume from instead, before any training
    step (mmengine would resume at iteration 2 with fresh optimizer moments
    and the schedule back at its first value).
    """
    work_dir = tmp_path / 'work'
    first = run_script('tools/train.py', toy_config, '--work-dir', work_dir,
                       '--cfg-options', 'train_cfg.max_iters=2',
                       'default_hooks.checkpoint.interval=2')
    assert first.returncode == 0, first.stderr[-3000:]
    full = load_checkpoint_file(str(work_dir / 'iter_2.pth'))
    assert {'optimizer', 'param_schedulers'} <= full.keys()
    best = work_dir / 'best_loss_iter_2.pth'
    torch.save({k: full[k]
                for k in ('meta', 'state_dict', 'message_hub')}, best)
    proc = run_script('tools/train.py', toy_config, '--work-dir', work_dir,
                      '--resume', best)
    assert proc.returncode != 0
    assert (f'CheckpointError: Cannot resume from {best}: it has no '
            'optimizer or param_schedulers state') in proc.stderr
    assert 'iter_*.pth' in proc.stderr and 'load_from=' in proc.stderr
    assert 'Iter(train)' not in proc.stdout + proc.stderr


#: Saves one prior file in a process that SIGKILLs itself between writing
#: the temporary file and renaming it, as a kill during the save would.
KILLED_SAVE = """
import os, signal, sys
from mvitx.datasets.prior_store import save_priors
from tests.datasets.test_prior_store import make_fields
os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
save_priors(sys.argv[1], **make_fields())
"""


def test_i12_extraction_rerun_removes_stale_tmp_files(tmp_path):
    """The hidden ``.<stem>.npz.<pid>.tmp`` that ``save_priors`` leaves
    when killed mid-save, in the out dir of
    ``tools/data/extract_priors.py``.

    Outcome: a rerun of the shard removes it and logs how many it removed;
    the temporary files of a running process and of another shard's videos
    are kept.
    """
    out = tmp_path / 'priors'
    killed = subprocess.Popen(
        [sys.executable, '-c', KILLED_SAVE, out / 'a.npz'],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert killed.wait(timeout=300) == -signal.SIGKILL
    stale = os.listdir(out)
    assert stale == [f'.a.npz.{killed.pid}.tmp']
    # the same left behind by a killed run of the other shard
    other_shard = f'.b.npz.{killed.pid}.tmp'
    shutil.copy(out / stale[0], out / other_shard)
    # a.mp4 (shard 0 of 2) was finished by a later run; b.mp4 is shard 1's
    save_priors(str(out / 'a.npz'), **make_fields())
    running = out / f'.a.npz.{os.getpid()}.tmp'
    running.write_bytes(b'being written')
    (tmp_path / 'list.txt').write_text('a.mp4 0\nb.mp4 1\n')
    proc = run_script('tools/data/extract_priors.py',
                      *tool_args(tmp_path / 'list.txt', out, '--shard', '0/2'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'shard 0of2: 0 extracted, 1 skipped, 0 failed' in proc.stdout
    assert sorted(p for p in os.listdir(out) if p.endswith('.tmp')) == \
        sorted([running.name, other_shard])
    log = (out / 'logs' / 'shard_0of2.log').read_text()
    assert ('removed 1 stale temporary file(s) of killed runs\n'
            f'  {out / stale[0]}\n') in log


def test_works_bad_checkpoint_refused_by_resume(toy_config, bad_checkpoint,
                                                tmp_path):
    """A truncated or a malicious (code-running) checkpoint given to
    ``tools/train.py --resume CKPT``.

    Outcome: ``CheckpointError`` naming the file; the malicious one runs
    nothing.
    """
    path, marker, refusal = bad_checkpoint
    proc = run_script('tools/train.py', toy_config, '--work-dir',
                      tmp_path / 'work', '--resume', path)
    assert proc.returncode != 0
    assert f'CheckpointError: {refusal}' in proc.stderr
    assert not marker.exists()


def test_works_bad_checkpoint_refused_by_test_tool(kinetics, bad_checkpoint,
                                                   tmp_path):
    """A truncated or a malicious (code-running) checkpoint given to
    ``tools/test.py``.

    Outcome: ``CheckpointError`` naming the file; the malicious one runs
    nothing.
    """
    path, marker, refusal = bad_checkpoint
    proc = run_script('tools/test.py', VIDEO_CONFIG, path, '--work-dir',
                      tmp_path / 'work', *video_test_options(kinetics))
    assert proc.returncode != 0
    assert f'CheckpointError: {refusal}' in proc.stderr
    assert not marker.exists()


def test_works_bad_checkpoint_refused_by_init_cfg(bad_checkpoint):
    """A truncated or a malicious (code-running) checkpoint as a model's
    ``init_cfg=dict(type='Pretrained', checkpoint=...)``.

    Outcome: ``CheckpointError`` naming the file when the weights are
    initialised; the malicious one runs nothing.
    """
    path, marker, refusal = bad_checkpoint
    register_all_modules()
    model = MViT(
        arch='xs', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointError, match=re.escape(refusal)):
        model.init_weights()
    assert not marker.exists()


@pytest.mark.parametrize('option', ['--det-checkpoint', '--pose-checkpoint'])
def test_works_bad_checkpoint_refused_by_extract_priors(
        bad_checkpoint, option, tmp_path):
    """A truncated or a malicious (code-running) checkpoint given to
    ``tools/data/extract_priors.py --det-checkpoint`` or
    ``--pose-checkpoint``.

    Outcome: ``CheckpointError`` naming the file before any video is
    read; the malicious one runs nothing.
    """
    path, marker, refusal = bad_checkpoint
    videos = tmp_path / 'videos'
    videos.mkdir()
    write_video(str(videos / 'one.mp4'))
    tool = load_tool('tools/data/extract_priors.py')
    with pytest.raises(CheckpointError, match=re.escape(refusal)):
        tool.main(
            tool_args(None, tmp_path / 'priors', '--video-root', str(videos),
                      option, str(path)))
    assert not marker.exists()
    assert not (tmp_path / 'priors' / 'one.npz').exists()


@HOOKS.register_module(force=True)
class SigkillAtIterHook(Hook):
    """SIGKILLs rank ``rank`` after iteration ``kill_iter`` (1-based), as
    the out-of-memory killer or a lost node would."""

    def __init__(self, kill_iter: int, rank: int = 1):
        self.kill_iter, self.rank = kill_iter, rank

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        if runner.rank == self.rank and runner.iter + 1 == self.kill_iter:
            os.kill(os.getpid(), signal.SIGKILL)


def test_works_sigkilled_rank_resumes_to_identical_weights_and_optimizer(
        toy_config, tmp_path):
    """Rank 1 of a two-process ``tools/dist_train.sh`` run SIGKILLed after
    iteration 5 (last checkpoint: iteration 3), then ``--resume``.

    Outcome: training continues from iteration 3 and ends with weights and
    optimizer state identical to an uninterrupted run.
    """
    full = tmp_path / 'full'
    dist_train(toy_config, full)
    killing = tmp_path / 'killing.py'
    killing.write_text(
        f'_base_ = [{str(toy_config)!r}]\n'
        'custom_imports = dict(imports=["tests.tools.toy_components", '
        '"tests.faults.test_entry_points"])\n'
        'custom_hooks = [dict(type="SigkillAtIterHook", kill_iter=5)]\n')
    work_dir = tmp_path / 'killed'
    killed = dist_train(killing, work_dir, check=False)
    assert killed.returncode != 0
    assert 'Signal 9 (SIGKILL)' in killed.stdout + killed.stderr
    assert (work_dir / 'iter_3.pth').exists()
    assert not (work_dir / 'iter_6.pth').exists()
    resumed = dist_train(toy_config, work_dir, '--resume')
    assert 'resumed epoch: 0, iter: 3' in resumed.stdout + resumed.stderr
    want = load_checkpoint_file(str(full / 'iter_8.pth'))
    got = load_checkpoint_file(str(work_dir / 'iter_8.pth'))
    assert want['state_dict'].keys() == got['state_dict'].keys()
    for key, value in want['state_dict'].items():
        torch.testing.assert_close(
            got['state_dict'][key], value, rtol=0, atol=0)
    # SGD with momentum: the momentum buffers and the scheduled lr
    torch.testing.assert_close(
        got['optimizer'], want['optimizer'], rtol=0, atol=0)


def test_works_distributed_evaluation_of_uneven_split_equals_one_process(
        kinetics, video_checkpoint, tmp_path):
    """7 test videos evaluated by two processes (``tools/dist_test.sh``,
    batches of 2): the sampler pads the split with a repeated video.

    Outcome: the same 7 predictions in the same order, and the same
    accuracy, as one process.
    """
    options = video_test_options(kinetics)
    one = run_script('tools/test.py', VIDEO_CONFIG, video_checkpoint,
                     '--work-dir', tmp_path / 'one', '--dump',
                     tmp_path / 'one.pkl', *options)
    assert one.returncode == 0, one.stderr[-3000:]
    two = dist_test(VIDEO_CONFIG, video_checkpoint, tmp_path / 'two', '--dump',
                    tmp_path / 'two.pkl', *options)
    assert two.returncode == 0, two.stderr[-3000:]
    assert 'Distributed launcher: pytorch' in two.stdout + two.stderr
    want = mmengine.load(str(tmp_path / 'one.pkl'))
    got = mmengine.load(str(tmp_path / 'two.pkl'))
    assert len(want) == len(got) == 7
    for w, g in zip(want, got):
        assert g['filename'] == w['filename']
        torch.testing.assert_close(g['pred_score'], w['pred_score'])

    def metrics(proc):
        found = re.findall(r'demo_vid/top1: (\S+)', proc.stdout + proc.stderr)
        assert found, proc.stdout[-3000:]
        return found[-1]

    assert metrics(two) == metrics(one)
