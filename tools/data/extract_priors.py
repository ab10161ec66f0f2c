"""Extracts structured priors (person/hand/face/object boxes, keypoints and,
optionally, 3D poses) for every video of a dataset with an mmdet detector,
an mmpose top-down model and an optional mmpose pose lifter, one ``.npz``
per video (format: ``docs/priors.md``).

Safe to run for days on many processes: ``--shard i/n`` splits the list,
finished videos are skipped on restart, files are written under a temporary
name and renamed (a restart removes the temporary files a killed run of the
shard left), and a video that fails is logged and listed in
``failed_<i>of<n>.txt`` without stopping the run.

Example (one GPU, Kinetics, every 4th frame)::

    python tools/data/extract_priors.py \\
        --video-list data/kinetics400/train.csv \\
        --video-root data/kinetics400/videos_train \\
        --out-dir data/kinetics400/priors \\
        --det-config rtmdet_m_8xb32-300e_coco.py \\
        --det-checkpoint rtmdet_m_coco.pth \\
        --pose-config rtmpose-m_8xb64-270e_coco-wholebody-256x192.py \\
        --pose-checkpoint rtmpose-m_wholebody.pth \\
        --frame-interval 4 --device cuda:0 --shard 0/8

(``rtmdet_m_8xb32-300e_coco.py``: an 80-class COCO detector, so held
objects get boxes too; add ``--pose3d-config``/``--pose3d-checkpoint`` for
3D poses.)
"""
import argparse
import csv
import hashlib
import json
import logging
import os
import os.path as osp
import platform
import sys
import time
import traceback
from importlib import metadata
from typing import List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

VIDEO_EXTENSIONS = ('.mp4', '.mkv', '.webm', '.avi', '.mov')
VERSIONED_PACKAGES = ('mvitx', 'torch', 'mmengine', 'mmcv', 'mmdet', 'mmpose',
                      'decord', 'numpy')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group('videos')
    data.add_argument(
        '--video-list',
        help='list of videos: a text file whose lines start with a path '
        '(mmaction "name.mp4 label" lists) or an official Kinetics CSV '
        '(youtube_id,time_start,time_end -> '
        '{youtube_id}_{start:06d}_{end:06d}.mp4); default: every video '
        'under --video-root')
    data.add_argument(
        '--video-root',
        help='folder the list paths are relative to (default: the '
        "list's folder)")
    data.add_argument(
        '--out-dir',
        required=True,
        help='one <video stem>.npz per video, manifest.json, logs, failed '
        'lists')
    sampling = parser.add_argument_group('frame sampling')
    sampling.add_argument(
        '--sampling',
        choices=('interval', 'keyframes'),
        default='interval',
        help='"interval": every --frame-interval-th frame; "keyframes": one '
        'frame per second inside --keyframe-range (AVA)')
    sampling.add_argument('--frame-interval', type=int, default=4)
    sampling.add_argument(
        '--keyframe-range',
        type=float,
        nargs=2,
        default=(902, 1798),
        metavar=('START', 'END'),
        help='seconds of the video file (inclusive); AVA full movies: '
        '902 1798, AVA 15-min cuts starting at 900 s: 2 898')
    sampling.add_argument(
        '--timestamp-offset',
        type=float,
        default=0.,
        help='added to stored timestamps (900 for AVA 15-min cuts, so '
        'they match the annotation CSV)')
    models = parser.add_argument_group('models')
    models.add_argument('--det-config', required=True, help='mmdet config')
    models.add_argument(
        '--det-checkpoint',
        help='mmdet checkpoint (omit only for tests: random weights)')
    models.add_argument(
        '--pose-config', required=True, help='mmpose top-down config')
    models.add_argument(
        '--pose-checkpoint',
        help='mmpose checkpoint (omit only for tests: random weights)')
    models.add_argument('--det-score-thr', type=float, default=0.5)
    models.add_argument('--kpt-score-thr', type=float, default=0.3)
    models.add_argument('--max-persons', type=int, default=10)
    models.add_argument('--max-parts', type=int, default=20)
    models.add_argument(
        '--no-derive-parts',
        action='store_true',
        help='do not derive hand/face boxes from keypoints')
    models.add_argument(
        '--object-classes',
        nargs='*',
        metavar='NAME',
        help='detector classes kept as object boxes, e.g. cup "cell phone" '
        '(no names: no objects; default: the COCO classes a person holds, '
        'mvitx.apis.priors.HELD_OBJECT_CLASSES, that the detector has)')
    models.add_argument('--object-score-thr', type=float, default=0.3)
    models.add_argument('--max-objects', type=int, default=10)
    models.add_argument(
        '--pose3d-config',
        help='mmpose pose lifter config (H36M, e.g. video_pose_lift): adds '
        '3D poses (keypoints3d)')
    models.add_argument(
        '--pose3d-checkpoint',
        help='pose lifter checkpoint (omit only for tests: random weights)')
    models.add_argument(
        '--batch-size', type=int, default=8, help='frames per detector call')
    models.add_argument('--device', default='cpu', help='e.g. cuda:0')
    models.add_argument(
        '--seed',
        type=int,
        help='torch seed before building the models (random weights)')
    run = parser.add_argument_group('run')
    run.add_argument(
        '--shard',
        default='0/1',
        help='i/n: process videos i, i+n, i+2n, ... of the sorted list')
    run.add_argument(
        '--chunk-frames',
        type=int,
        default=64,
        help='frames decoded at once (bounds memory on long videos)')
    args = parser.parse_args(argv)
    try:
        index, count = (int(x) for x in args.shard.split('/'))
        if not 0 <= index < count:
            raise ValueError
    except ValueError:
        parser.error(f'--shard must be i/n with 0 <= i < n, got '
                     f'{args.shard!r}')
    args.shard_index, args.shard_count = index, count
    if args.frame_interval < 1:
        parser.error('--frame-interval must be >= 1')
    if args.video_list is None and args.video_root is None:
        parser.error('give --video-list or --video-root')
    return args


def read_video_list(video_list: Optional[str],
                    video_root: Optional[str]) -> List[str]:
    """Absolute video paths of a list file (or of all videos under
    ``video_root``), sorted, each once.

    Raises:
        ValueError: If two videos share a file stem (prior files are named
            by stem).
    """
    if video_root is None:
        video_root = osp.dirname(osp.abspath(video_list))
    if video_list is None:
        names = [
            osp.relpath(osp.join(folder, name), video_root)
            for folder, _, files in os.walk(video_root) for name in files
            if name.lower().endswith(VIDEO_EXTENSIONS)
        ]
    elif video_list.endswith('.csv'):
        with open(video_list, newline='') as f:
            names = [
                f'{row["youtube_id"]}_{int(float(row["time_start"])):06d}_'
                f'{int(float(row["time_end"])):06d}.mp4'
                for row in csv.DictReader(f)
            ]
    else:
        with open(video_list) as f:
            names = [
                line.split()[0] for line in f
                if line.strip() and not line.startswith('#')
            ]
    paths = sorted({osp.abspath(osp.join(video_root, n)) for n in names})
    stems = {}
    for path in paths:
        stem = video_stem(path)
        if stem in stems:
            raise ValueError(f'{path} and {stems[stem]} share the stem '
                             f'{stem!r}; prior files are named by stem')
        stems[stem] = path
    return paths


def video_stem(path: str) -> str:
    """The name a video's prior file takes (``<stem>.npz``)."""
    return osp.splitext(osp.basename(path))[0]


def sample_frame_inds(num_frames: int, fps: float,
                      args: argparse.Namespace) -> np.ndarray:
    """Sorted, unique frame indices to extract."""
    if args.sampling == 'interval':
        return np.arange(0, num_frames, args.frame_interval, dtype=np.int64)
    start, end = args.keyframe_range
    seconds = np.arange(np.ceil(start), np.floor(end) + 1)
    inds = np.round(seconds * fps).astype(np.int64)
    return np.unique(inds[(inds >= 0) & (inds < num_frames)])


def extract_video(extractor, path: str, args: argparse.Namespace) -> dict:
    """Decodes the sampled frames of one video and returns the
    :func:`~mvitx.datasets.prior_store.save_priors` fields."""
    import decord

    if not osp.isfile(path):
        raise FileNotFoundError(f'no video {path}')
    reader = decord.VideoReader(path, num_threads=1)
    num_frames, fps = len(reader), float(reader.get_avg_fps())
    if num_frames == 0:
        raise ValueError('no frames')
    height, width = reader[0].shape[:2]
    frame_inds = sample_frame_inds(num_frames, fps, args)
    per_frame = []
    for start in range(0, len(frame_inds), args.chunk_frames):
        chunk = frame_inds[start:start + args.chunk_frames].tolist()
        per_frame += extractor(list(reader.get_batch(chunk).asnumpy()))
    fields = extractor.video_priors(per_frame, (height, width))
    meta = dict(
        video=path,
        fps=fps,
        num_frames=num_frames,
        sampling=args.sampling,
        frame_interval=args.frame_interval,
        timestamp_offset=args.timestamp_offset,
        det_config=args.det_config,
        pose_config=args.pose_config,
        pose3d_config=args.pose3d_config,
        # box_classes index this list
        det_classes=list(extractor.detector.dataset_meta['classes']))
    return dict(
        frame_inds=frame_inds,
        timestamps=frame_inds / fps + args.timestamp_offset,
        video_size=(height, width),
        meta=meta,
        **fields)


def library_versions() -> dict:
    """Installed versions of the packages that shape the priors."""
    versions = {'python': platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def file_sha256(path: Optional[str]) -> Optional[str]:
    """SHA-256 of a checkpoint, so a changed file at the same path is
    noticed."""
    if path is None or not osp.isfile(path):
        return None
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def check_manifest(out_dir: str, settings: dict) -> Optional[dict]:
    """The existing ``manifest.json`` of ``out_dir`` (None if there is
    none), refusing to mix priors made with other settings in one folder.
    """
    path = osp.join(out_dir, 'manifest.json')
    if not osp.exists(path):
        return None
    with open(path) as f:
        old = json.load(f)
    if old['settings'] != settings:
        changed = sorted(
            k for k in set(old['settings']) | set(settings)
            if old['settings'].get(k) != settings.get(k))
        raise SystemExit(f'{path} was written with other settings '
                         f'({changed}); use another --out-dir instead of '
                         'mixing priors')
    return old


def write_manifest(out_dir: str, settings: dict,
                   models: Optional[dict]) -> None:
    """Writes ``manifest.json``: the settings that decide the priors
    (configs, checkpoints and their hashes, thresholds, sampling), what the
    models are (classes, keypoint layout) and the library versions."""
    path = osp.join(out_dir, 'manifest.json')
    manifest = dict(
        settings=settings,
        models=models,
        versions=library_versions(),
        created=time.strftime('%Y-%m-%dT%H:%M:%S%z'))
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # none, or not a pid
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_tmp_files(out_dir: str, names: Sequence[str]) -> List[str]:
    """Removes the temporary prior files that killed runs left in
    ``out_dir``.

    Only files of ``names`` (this shard's ``<stem>.npz``) are candidates:
    another shard may be writing its own on another machine, where its
    process id means nothing here. Of those, a file whose process still
    runs here (a second run of this shard) is kept.

    Args:
        out_dir (str): The folder of the prior files.
        names (Sequence[str]): File names of this shard's prior files.

    Returns:
        list[str]: The removed files.
    """
    from mvitx.datasets.prior_store import TEMP_NAME
    names = set(names)
    removed = []
    for entry in os.listdir(out_dir):
        match = TEMP_NAME.match(entry)
        if (match and match['name'] in names
                and not pid_alive(int(match['pid']))):
            path = osp.join(out_dir, entry)
            os.remove(path)
            removed.append(path)
    return removed


def setup_logger(out_dir: str, shard: str) -> logging.Logger:
    """A logger writing to ``out_dir/logs/shard_<shard>.log`` only (the
    console shows the progress bar)."""
    os.makedirs(osp.join(out_dir, 'logs'), exist_ok=True)
    logger = logging.getLogger(f'extract_priors.{shard}')
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for old in list(logger.handlers):  # main() called again in one process
        logger.removeHandler(old)
        old.close()
    handler = logging.FileHandler(
        osp.join(out_dir, 'logs', f'shard_{shard}.log'))
    handler.setFormatter(
        logging.Formatter('%(asctime)s %(levelname)s %(message)s'))
    logger.addHandler(handler)
    return logger


def write_failed(path: str, failed: List[Tuple[str, str]]) -> None:
    """Atomically writes ``video<TAB>error`` lines."""
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        f.writelines(f'{video}\t{error}\n' for video, error in failed)
    os.replace(tmp, path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs one shard; returns 1 if any video failed, else 0."""
    args = parse_args(argv)
    from mvitx.datasets.prior_store import save_priors

    shard = f'{args.shard_index}of{args.shard_count}'
    os.makedirs(args.out_dir, exist_ok=True)
    logger = setup_logger(args.out_dir, shard)
    videos = read_video_list(args.video_list, args.video_root)
    mine = videos[args.shard_index::args.shard_count]
    out_path = {
        v: osp.join(args.out_dir,
                    video_stem(v) + '.npz')
        for v in mine
    }
    stale = remove_stale_tmp_files(
        args.out_dir, [osp.basename(p) for p in out_path.values()])
    logger.info('removed %d stale temporary file(s) of killed runs%s',
                len(stale), ''.join(f'\n  {p}' for p in stale))
    todo = [v for v in mine if not osp.exists(out_path[v])]
    logger.info('shard %s: %d of %d videos, %d already done', shard, len(mine),
                len(videos),
                len(mine) - len(todo))
    settings = dict(
        det_config=args.det_config,
        det_checkpoint=args.det_checkpoint,
        pose_config=args.pose_config,
        pose_checkpoint=args.pose_checkpoint,
        pose3d_config=args.pose3d_config,
        pose3d_checkpoint=args.pose3d_checkpoint,
        det_checkpoint_sha256=file_sha256(args.det_checkpoint),
        pose_checkpoint_sha256=file_sha256(args.pose_checkpoint),
        pose3d_checkpoint_sha256=file_sha256(args.pose3d_checkpoint),
        sampling=args.sampling,
        frame_interval=args.frame_interval,
        keyframe_range=list(args.keyframe_range),
        timestamp_offset=args.timestamp_offset,
        det_score_thr=args.det_score_thr,
        kpt_score_thr=args.kpt_score_thr,
        max_persons=args.max_persons,
        max_parts=args.max_parts,
        derive_parts=not args.no_derive_parts,
        object_classes=args.object_classes,
        object_score_thr=args.object_score_thr,
        max_objects=args.max_objects)
    old_manifest = check_manifest(args.out_dir, settings)
    failed_path = osp.join(args.out_dir, f'failed_{shard}.txt')
    failed: List[Tuple[str, str]] = []
    if todo:
        if args.seed is not None:
            import torch
            torch.manual_seed(args.seed)
        from mvitx.apis import PriorExtractor
        extractor = PriorExtractor(
            det_config=args.det_config,
            pose_config=args.pose_config,
            det_checkpoint=args.det_checkpoint,
            pose_checkpoint=args.pose_checkpoint,
            device=args.device,
            det_score_thr=args.det_score_thr,
            kpt_score_thr=args.kpt_score_thr,
            max_persons=args.max_persons,
            max_parts=args.max_parts,
            batch_size=args.batch_size,
            derive_parts=not args.no_derive_parts,
            object_classes=args.object_classes,
            object_score_thr=args.object_score_thr,
            max_objects=args.max_objects,
            pose3d_config=args.pose3d_config,
            pose3d_checkpoint=args.pose3d_checkpoint)
        logger.info('models: %s',
                    json.dumps(extractor.settings, sort_keys=True))
        write_manifest(args.out_dir, settings, extractor.settings)
    elif old_manifest is None:
        write_manifest(args.out_dir, settings, None)
    bar = tqdm(todo, desc=f'priors {shard}', unit='video', dynamic_ncols=True)
    for video in bar:
        try:
            save_priors(out_path[video],
                        **extract_video(extractor, video, args))
            logger.info('done %s', video)
        except Exception as err:  # one bad video must not stop the run
            reason = f'{type(err).__name__}: {err}'.splitlines()[0]
            logger.error('failed %s\n%s', video, traceback.format_exc())
            failed.append((video, reason))
            write_failed(failed_path, failed)
            tqdm.write(f'failed {video}: {reason}', file=sys.stderr)
        bar.set_postfix(failed=len(failed))
    write_failed(failed_path, failed)
    logger.info('shard %s finished: %d extracted, %d failed', shard,
                len(todo) - len(failed), len(failed))
    print(f'shard {shard}: {len(todo) - len(failed)} extracted, '
          f'{len(mine) - len(todo)} skipped, {len(failed)} failed '
          f'(list: {failed_path})')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
