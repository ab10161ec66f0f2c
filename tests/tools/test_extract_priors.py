import csv
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import mmpose
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

from mvitx.datasets.demo import make_kinetics
from mvitx.datasets.prior_store import BOX_TYPES, FORMAT_VERSION, load_priors
from mvitx.structures import FACE, HAND, OBJECT, PERSON
from tests.apis.test_prior_extractor import DET_COCO, LIFTER, make_classes_fire
from tests.helpers import ROOT, load_tool

TOOL = osp.join(ROOT, 'tools', 'data', 'extract_priors.py')
MIM = osp.join(osp.dirname(mmpose.__file__), '.mim')
# RTMPose's official person detector (mmdet RTMDet-nano, shipped by mmpose)
DET = osp.join(MIM, 'demo', 'mmdetection_cfg',
               'rtmdet_nano_320-8xb32_coco-person.py')
POSE_BODY = osp.join(MIM, 'configs', 'body_2d_keypoint', 'rtmpose', 'coco',
                     'rtmpose-t_8xb256-420e_coco-256x192.py')
POSE_WHOLEBODY = osp.join(MIM, 'configs', 'wholebody_2d_keypoint', 'rtmpose',
                          'coco-wholebody',
                          'rtmpose-m_8xb64-270e_coco-wholebody-256x192.py')
H, W, FRAMES = 48, 64, 6


def write_video(path):
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 25, (W, H))
    for f in range(FRAMES):
        frame = np.full((H, W, 3), 90, np.uint8)
        frame[8:40, 10 + 2 * f:26 + 2 * f] = (40, 160, 220)
        writer.write(frame)
    writer.release()


@pytest.fixture
def videos(tmp_path):
    """Four of the demo generator's Kinetics videos (8 frames at 8 fps) in
    the official CSV form, plus a corrupt video listed in it."""
    root = tmp_path / 'kinetics'
    make_kinetics(str(root), 0, dict(train_videos=1, val_videos=0), 64, 8)
    (root / 'videos_train' / 'corrupt_000000_000002.mp4').write_bytes(
        b'\x00\x00\x00\x18ftypmp42' * 40)
    # four of them (to keep the test fast) and the corrupt one
    lines = (root / 'train.csv').read_text().splitlines(keepends=True)
    (root / 'train.csv').write_text(''.join(lines[:5]) +
                                    'hand opens,corrupt,0,2,train\n')
    return root / 'videos_train', root / 'train.csv'


def tool_args(video_list, out_dir, *extra, pose=POSE_BODY, det=DET):
    listing = [] if video_list is None else ['--video-list', str(video_list)]
    return [
        *listing, '--out-dir',
        str(out_dir), '--det-config', det, '--pose-config', pose,
        '--det-score-thr', '0.05', '--kpt-score-thr', '0', '--max-persons',
        '2', '--seed', '0', *extra
    ]


def run_tool(*args, **kwargs):
    """Runs the tool in a fresh process, as a user would."""
    return subprocess.run([sys.executable, TOOL, *tool_args(*args, **kwargs)],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=600)


def done_videos(out_dir, shard=''):
    done = []
    for name in os.listdir(out_dir / 'logs'):
        if shard not in name:
            continue
        with open(out_dir / 'logs' / name) as f:
            done += [line.split()[-1] for line in f if ' done ' in line]
    return done


def check_format(path, video, frame_inds, fps, size, num_keypoints):
    priors = load_priors(str(path))
    np.testing.assert_array_equal(priors['frame_inds'], frame_inds)
    np.testing.assert_allclose(priors['timestamps'],
                               np.asarray(frame_inds) / fps)
    np.testing.assert_array_equal(priors['video_size'], size)
    frames, slots = priors['box_types'].shape
    assert frames == len(frame_inds)
    assert priors['keypoints'].shape[0] == frames
    assert priors['keypoints'].shape[2:] == (num_keypoints, 3)
    h, w = size
    real = priors['box_types'] >= 0
    boxes = priors['boxes'][real]
    assert (boxes >= -1e-3).all()
    assert (boxes[:, 2] <= w + 1e-3).all() and (boxes[:, 3] <= h + 1e-3).all()
    # persons come first, in keypoint order; parts point at a person
    person = priors['box_types'] == BOX_TYPES['person']
    for f in range(frames):
        num_persons = person[f].sum()
        assert person[f, :num_persons].all()
        assert (priors['box_person'][f, :num_persons] == np.arange(num_persons)
                ).all()
        assert (priors['box_person'][f][real[f]] < num_persons).all()
    meta = json.loads(priors['meta'])
    assert meta['fps'] == fps and meta['video'] == str(video)
    return priors


def test_shards_skip_and_failures(videos, tmp_path, capsys):
    root, video_list = videos
    out = tmp_path / 'priors'
    results = [
        run_tool(video_list, out, '--video-root', str(root), '--shard',
                 f'{i}/2') for i in (0, 1)
    ]
    stems = sorted(p[:-4] for p in os.listdir(out) if p.endswith('.npz'))
    good = sorted(f'{row[1]}_{int(row[2]):06d}_{int(row[3]):06d}'
                  for row in csv.reader(video_list.open())
                  if row[1] != 'youtube_id')
    good.remove('corrupt_000000_000002')
    assert len(good) == 4
    assert stems == good, [r.stderr for r in results]
    # two shards covered the list exactly once
    done = done_videos(out)
    assert sorted(done) == sorted(str(root / f'{s}.mp4') for s in stems)
    assert len(done_videos(out, '0of2')) in (2, 3)
    failed = {}
    for i, result in enumerate(results):
        with open(out / f'failed_{i}of2.txt') as f:
            failed[i] = [line.split('\t')[0] for line in f]
        assert result.returncode == (1 if failed[i] else 0), result.stderr
    corrupt = str(root / 'corrupt_000000_000002.mp4')
    assert sorted(failed[0] + failed[1]) == [corrupt]
    assert 'video/s' in results[0].stderr + results[1].stderr

    for stem in stems:
        # demo videos: 8 frames at 8 fps, every 4th frame extracted
        priors = check_format(out / f'{stem}.npz', root / f'{stem}.mp4',
                              [0, 4], 8, (64, 64), 17)
        # random weights still give (meaningless) person boxes at this
        # threshold, so the pose model and the face boxes derived from its
        # keypoints ran
        types = set(priors['box_types'].ravel().tolist())
        assert {BOX_TYPES['person'], BOX_TYPES['face']} <= types
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['settings']['det_config'] == DET
    assert manifest['settings']['det_score_thr'] == 0.05
    assert manifest['models']['keypoint_layout'] == 'coco'
    assert manifest['models']['det_classes'][0] == 'person'
    assert manifest['versions']['mmdet'] and manifest['versions']['mmpose']

    # a second run skips finished videos and retries only the failed one
    mtimes = {s: os.stat(out / f'{s}.npz').st_mtime_ns for s in stems}
    # (in this process: no model is built, so this is quick)
    tool = load_tool('tools/data/extract_priors.py')
    assert tool.main(tool_args(video_list, out, '--video-root',
                               str(root))) == 1
    assert 'shard 0of1: 0 extracted, 4 skipped, 1 failed' in \
        capsys.readouterr().out
    assert mtimes == {s: os.stat(out / f'{s}.npz').st_mtime_ns for s in stems}
    assert not [p for p in os.listdir(out) if p.endswith('.tmp')]

    # priors made with other settings are not mixed into the folder
    with pytest.raises(SystemExit, match='other settings.*det_score_thr'):
        tool.main(
            tool_args(video_list, out, '--video-root', str(root),
                      '--det-score-thr', '0.3'))


def test_wholebody_parts_linked_objects_and_3d_poses(tmp_path):
    """A randomly initialised 80-class RTMDet, saved as a checkpoint whose
    classification layers make person, cup, cell phone and car fire (one
    frame-sized box each), a whole-body pose model (hand and face boxes
    from its keypoints) and a pose lifter."""
    from mmdet.apis import init_detector
    from mmdet.datasets import CocoDataset
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = init_detector(DET_COCO, None, device='cpu')
    make_classes_fire(detector, {
        'person': 3.,
        'cup': 2.,
        'cell phone': 1.,
        'car': 3.
    })
    ckpt = str(tmp_path / 'rtmdet_coco.pth')
    # real COCO checkpoints name their classes: 'cell phone', not the
    # 'cell_phone' of mmdet's defaults
    classes = CocoDataset.METAINFO['classes']
    torch.save(
        dict(
            state_dict=detector.state_dict(),
            meta=dict(dataset_meta=dict(classes=classes))), ckpt)
    root = tmp_path / 'videos'
    root.mkdir()
    write_video(str(root / 'one.mp4'))
    out = tmp_path / 'priors'
    result = run_tool(
        None,
        out,
        '--video-root',
        str(root),
        '--det-checkpoint',
        ckpt,
        '--max-persons',
        '1',
        '--frame-interval',
        '2',
        '--object-classes',
        'cup',
        'cell phone',
        '--object-score-thr',
        '0.6',
        '--pose3d-config',
        LIFTER,
        pose=POSE_WHOLEBODY,
        det=DET_COCO)
    assert result.returncode == 0, result.stderr
    priors = check_format(out / 'one.npz', root / 'one.mp4', [0, 2, 4], 25,
                          (H, W), 133)
    assert priors['format_version'] == FORMAT_VERSION
    cup, phone = classes.index('cup'), classes.index('cell phone')
    types, links = priors['box_types'], priors['box_links']
    for f in range(3):
        # one person, its two hands and its face, all linked to person 0,
        # and the two objects
        assert sorted(types[f][types[f] >= 0].tolist()) == [0, 1, 1, 2, 3, 3]
        parts = (types[f] >= 0) & (types[f] != OBJECT)
        assert (priors['box_person'][f][parts] == 0).all()
        kpts = priors['keypoints'][f, 0]
        for type_id, ids in ((HAND, range(91, 112)), (FACE, range(23, 91))):
            boxes = priors['boxes'][f][types[f] == type_id]
            inside = [((kpts[list(ids), 0] >= b[0] - 1e-3) &
                       (kpts[list(ids), 0] <= b[2] + 1e-3)).any()
                      for b in boxes]
            assert all(inside)
        objects = np.flatnonzero(types[f] == OBJECT)
        assert sorted(priors['box_classes'][f, objects]) == [cup, phone]
        # frame-sized objects overlap the person and its hands: linked to
        # a hand of the same frame
        assert (types[f, links[f, objects]] == HAND).all()
        assert (links[f][types[f] != OBJECT] == -1).all()
        assert priors['box_classes'][f][types[f] == PERSON].tolist() == [0]
    assert priors['keypoints3d_layout'] == 'h36m'
    assert priors['keypoints3d'].shape == (3, 1, 17, 4)
    # H36M's thorax lies between the shoulders (COCO 5, 6)
    thorax = priors['keypoints'][..., 5:7, 2].mean(-1)
    np.testing.assert_allclose(
        priors['keypoints3d'][..., 8, 3], thorax, rtol=1e-6)
    meta = json.loads(priors['meta'])
    assert meta['det_classes'][cup] == 'cup'
    assert meta['pose3d_config'] == LIFTER
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['settings']['object_classes'] == ['cup', 'cell phone']
    assert manifest['models']['object_classes'] == ['cup', 'cell phone']
    assert manifest['models']['keypoint3d_layout'] == 'h36m'
    # the visual check names the objects and draws their links
    visualize = load_tool('tools/visualize_priors.py')
    assert visualize.main([
        str(root / 'one.mp4'),
        str(out / 'one.npz'), '--out-dir',
        str(tmp_path / 'vis')
    ]) == 0


def test_video_lists_and_sampling(tmp_path):
    tool = load_tool('tools/data/extract_priors.py')
    csv_file = tmp_path / 'train.csv'
    csv_file.write_text('label,youtube_id,time_start,time_end,split\n'
                        'abseiling,abc,5,15,train\n'
                        'zumba,xyz,100,110,train\n')
    paths = tool.read_video_list(str(csv_file), '/data/k400')
    assert paths == [
        '/data/k400/abc_000005_000015.mp4', '/data/k400/xyz_000100_000110.mp4'
    ]
    dup = tmp_path / 'dup.txt'
    dup.write_text('a/x.mp4 1\nb/x.mkv 2\n')
    with pytest.raises(ValueError, match="share the stem 'x'"):
        tool.read_video_list(str(dup), None)

    args = tool.parse_args([
        '--video-root', 'v', '--out-dir', 'o', '--det-config', 'd',
        '--pose-config', 'p', '--sampling', 'keyframes', '--keyframe-range',
        '2', '5'
    ])
    np.testing.assert_array_equal(
        tool.sample_frame_inds(1000, 30., args), [60, 90, 120, 150])
    np.testing.assert_array_equal(
        tool.sample_frame_inds(100, 30., args), [60, 90])
    args.sampling, args.frame_interval = 'interval', 4
    np.testing.assert_array_equal(
        tool.sample_frame_inds(10, 30., args), [0, 4, 8])
    with pytest.raises(SystemExit):
        tool.parse_args([
            '--video-root', 'v', '--out-dir', 'o', '--det-config', 'd',
            '--pose-config', 'p', '--shard', '2/2'
        ])


def test_stale_tmp_files_are_save_priors_files_of_gone_processes(tmp_path):
    tool = load_tool('tools/data/extract_priors.py')
    gone = '.a.npz.99999999999999999999.tmp'  # no process has that id
    kept = [
        f'.a.npz.{os.getpid()}.tmp',  # a running process
        '.b.npz.99999999999999999999.tmp',  # not this shard's video
        'a.npz.99999999999999999999.tmp',  # not save_priors' name
        '.a.npz.tmp',
    ]
    for name in [gone, *kept]:
        (tmp_path / name).write_bytes(b'partial')
    assert tool.remove_stale_tmp_files(str(tmp_path),
                                       ['a.npz']) == [str(tmp_path / gone)]
    assert sorted(os.listdir(tmp_path)) == sorted(kept)
