"""Spatio-temporal action detection on a video with a trained AVA model, as
``tools/test.py`` would score one keyframe of an AVA dataset.

Actor boxes come from an AVA-style proposals pickle (or its loaded dict)
or from an mmdet detector (:func:`~mvitx.apis.init_mmdet_detector`, its
``person`` class). One keyframe is scored every ``keyframe_interval``
seconds through the test pipeline of the model's config (its
``LoadAVAClip`` reads the clip around the keyframe from the video) and
``model.test_step``.

Examples:
    >>> model = init_model('configs/ava/mvit_xs_demo_ava.py', 'iter_300.pth')
    >>> for keyframe in inference_detector(model, 'val01.mp4',
    ...                                    'proposals.pkl', det_score_thr=0.6):
    ...     for actor in keyframe.actors:
    ...         print(keyframe.timestamp, actor.box, actor.names[0])
"""
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Union

import cv2
import numpy as np
import torch
import torch.nn as nn
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from mvitx.apis.detector import class_key
from mvitx.apis.inference import _sources_for
from mvitx.datasets.ava_files import (make_image_key, read_labelmap,
                                      read_proposals)

#: Proposals as :func:`~mvitx.datasets.ava_files.read_proposals` returns
#: them: ``"{video stem},%04d"`` -> ``(n, 5)`` normalised boxes and scores.
Proposals = Dict[str, np.ndarray]


@dataclass
class ActorActions:
    """One actor of a keyframe and its top-k actions.

    Attributes:
        box (np.ndarray): ``(4,)`` xyxy, normalised to the frame
            (``[0, 1]``).
        labels (list[int]): Action ids of the label map, best first.
        names (list[str]): Their names (the ids as text for ids the label
            map lacks).
        scores (list[float]): Their scores (sigmoid).
        pred_score (np.ndarray): ``(num_classes,)`` every action's score;
            column ``j`` is action id ``j + 1``.
    """
    box: np.ndarray
    labels: List[int]
    names: List[str]
    scores: List[float]
    pred_score: np.ndarray


@dataclass
class KeyframeActions:
    """The actors of one scored keyframe.

    Attributes:
        frame_index (int): The keyframe's index in the video (0-based).
        timestamp (int): Its second, rounded (the key of its proposals).
        actors (list[ActorActions]): One per person box; empty when the
            keyframe has none.
    """
    frame_index: int
    timestamp: int
    actors: List[ActorActions]


def action_names(model: nn.Module,
                 label_file: Optional[str] = None) -> Dict[int, str]:
    """Action id to name, from a label map.

    Args:
        model (nn.Module): A model from :func:`~mvitx.apis.init_model`.
        label_file (str, optional): An action list ``.pbtxt``. Defaults to
            None: the ``label_file`` of the config's test dataset (joined to
            its ``data_root``).

    Returns:
        dict[int, str]: The label map's ids and names.
    """
    if label_file is None:
        dataset = model.cfg.test_dataloader.dataset
        label_file = osp.join(dataset.get('data_root', ''), dataset.label_file)
    categories, _ = read_labelmap(label_file)
    return {c['id']: c['name'] for c in categories}


def detect_persons(detector: nn.Module, frame_bgr: np.ndarray,
                   score_thr: float) -> np.ndarray:
    """The person boxes an mmdet detector finds in one frame.

    Args:
        detector (nn.Module): An mmdet detector with a ``person`` class
            (:func:`~mvitx.apis.init_mmdet_detector`).
        frame_bgr (np.ndarray): ``(H, W, 3)`` uint8 BGR frame.
        score_thr (float): Smallest person score kept.

    Returns:
        np.ndarray: ``(n, 5)`` float32 rows ``(x1, y1, x2, y2, score)``,
        boxes normalised to the frame and clipped to it.

    Raises:
        ValueError: The detector has no ``person`` class.
    """
    from mmdet.apis import inference_detector as mmdet_inference
    classes = [class_key(c) for c in detector.dataset_meta['classes']]
    if 'person' not in classes:
        raise ValueError('the person detector has no "person" class '
                         f'(classes: {classes[:10]}...)')
    with DefaultScope.overwrite_default_scope('mmdet'):
        pred = mmdet_inference(detector, frame_bgr).pred_instances
    keep = (pred.labels == classes.index('person')) & (
        pred.scores >= score_thr)
    height, width = frame_bgr.shape[:2]
    # clipped: mmdet clips to the padded input, not to the frame
    boxes = (pred.bboxes[keep].cpu().numpy() /
             np.array([width, height, width, height], np.float32)).clip(0, 1)
    return np.concatenate([boxes, pred.scores[keep].cpu().numpy()[:, None]],
                          1).astype(np.float32)


def _scan_video(video: str, keyframe_interval: float,
                keep_keyframes: bool) -> tuple:
    """The frame rate, the keyframe indices (one every
    ``keyframe_interval`` seconds from frame 0) and, with
    ``keep_keyframes``, their BGR frames (decoded with OpenCV)."""
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS)
    if not cap.isOpened() or fps <= 0:
        cap.release()
        raise RuntimeError(f'cannot read frames from {video}')
    step = max(int(round(keyframe_interval * fps)), 1)
    frames, count = {}, 0
    while cap.grab():
        if keep_keyframes and count % step == 0:
            frames[count] = cap.retrieve()[1]
        count += 1
    cap.release()
    if count == 0:
        raise RuntimeError(f'cannot read frames from {video}')
    return fps, list(range(0, count, step)), frames


def _person_source(persons: Union[str, Proposals, nn.Module], video: str,
                   fps: float, frames: Dict[int, np.ndarray],
                   det_score_thr: float) -> Callable[[int], np.ndarray]:
    """Keyframe index to its ``(n, 5)`` normalised person boxes and
    scores, at least ``det_score_thr``."""
    if isinstance(persons, nn.Module):
        return lambda key: detect_persons(persons, frames[key], det_score_thr)
    proposals = persons
    if isinstance(persons, str):
        proposals = read_proposals(persons)
    stem = osp.splitext(osp.basename(video))[0]
    no_proposal = np.zeros((0, 5), np.float32)

    def boxes_of(key: int) -> np.ndarray:
        props = proposals.get(
            make_image_key(stem, round(key / fps)), no_proposal)
        return props[props[:, 4] >= det_score_thr]

    return boxes_of


def inference_detector(model: nn.Module,
                       video: str,
                       persons: Union[str, Proposals, nn.Module],
                       keyframe_interval: float = 1.,
                       det_score_thr: float = 0.9,
                       topk: int = 3,
                       label_file: Optional[str] = None,
                       source: Optional[str] = None) -> List[KeyframeActions]:
    """The actors and their top-k actions at the keyframes of a video.

    Every ``keyframe_interval`` seconds (frame 0 first, at the frame rate
    OpenCV reads) a keyframe takes its person boxes from ``persons`` and
    goes through the test pipeline of the model's config and
    ``model.test_step``, as a keyframe of an AVA test set does.

    Args:
        model (nn.Module): An AVA detector from
            :func:`~mvitx.apis.init_model`.
        video (str): The video file.
        persons (str | dict | nn.Module): An AVA-style proposals pickle
            (read with the restricted unpickler and checked as
            ``AVADataset`` checks it), its loaded dict (``"{video stem},
            %04d"`` -> ``(n, 5)`` normalised boxes and scores, keyed by the
            keyframe's rounded second), or an mmdet detector with a
            ``person`` class (:func:`~mvitx.apis.init_mmdet_detector`).
        keyframe_interval (float): Seconds between scored keyframes.
            Defaults to 1.
        det_score_thr (float): Smallest proposal or person score kept.
            Defaults to 0.9.
        topk (int): Actions per actor. Defaults to 3.
        label_file (str, optional): Action list ``.pbtxt`` naming the
            actions. Defaults to None: the config's (see
            :func:`action_names`).
        source (str, optional): The source of the config's test set whose
            pipeline reads the clips. Defaults to None: its only video
            source.

    Returns:
        list[KeyframeActions]: Every keyframe, in order.

    Raises:
        FileNotFoundError: A missing video.
        RuntimeError: A video OpenCV cannot read.
        KeyError: An unknown ``source``.
        ValueError: A detector without a ``person`` class; a malformed
            proposals file (naming the file and key); several video
            sources and no ``source``.
        PickleSafetyError: A proposals pickle that would run code.
    """
    if not osp.isfile(video):
        raise FileNotFoundError(f'{video} does not exist')
    sources = _sources_for(model, 'video', source)
    if len(sources) > 1:
        raise ValueError(f'the config\'s test set has several video sources '
                         f'{sources}; pass source=')
    pipeline = model.test_sources[sources[0]].pipeline
    names = action_names(model, label_file)
    fps, keyframes, frames = _scan_video(video, keyframe_interval,
                                         isinstance(persons, nn.Module))
    boxes_of = _person_source(persons, video, fps, frames, det_score_thr)
    results = []
    for key in keyframes:
        props = boxes_of(key)
        actors = []
        if len(props):
            actors = _keyframe_actors(model, pipeline, video, fps, key, props,
                                      names, topk)
        results.append(
            KeyframeActions(
                frame_index=key,
                timestamp=int(round(key / fps)),
                actors=actors))
    return results


def _keyframe_actors(model: nn.Module, pipeline: Compose, video: str,
                     fps: float, key: int, props: np.ndarray,
                     names: Dict[int, str], topk: int) -> List[ActorActions]:
    """Scores the ``(n, 5)`` person boxes ``props`` of keyframe ``key``."""
    data = pipeline(
        dict(
            backend='video',
            filename=video,
            video_id=osp.splitext(osp.basename(video))[0],
            timestamp=int(round(key / fps)),
            keyframe_ind=key,
            gt_bboxes_norm=np.zeros((0, 4), np.float32),
            proposals_norm=props[:, :4].astype(np.float32),
            proposal_scores=props[:, 4].astype(np.float32)))
    with torch.no_grad():
        sample = model.test_step(
            dict(inputs=[data['inputs']],
                 data_samples=[data['data_samples']]))[0]
    height, width = sample.metainfo['img_shape']
    boxes = sample.pred_instances.bboxes.float().cpu().numpy() / np.array(
        [width, height, width, height], np.float32)
    actors = []
    for box, scores in zip(boxes,
                           sample.pred_instances.scores.float().cpu().numpy()):
        # stable: equal scores keep id order, so the result is reproducible
        columns = np.argsort(-scores, kind='stable')[:topk]
        labels = [int(j) + 1 for j in columns]
        actors.append(
            ActorActions(
                box=box,
                labels=labels,
                names=[names.get(i, str(i)) for i in labels],
                scores=[float(scores[j]) for j in columns],
                pred_score=scores))
    return actors
