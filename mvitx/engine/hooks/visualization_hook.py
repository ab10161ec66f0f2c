"""Puts what people look at first into TensorBoard: the augmented training
samples and, at each validation, per-class accuracy and confusion."""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.dist import collect_results, is_main_process
from mmengine.hooks import Hook

from mvitx.registry import HOOKS
from mvitx.visualization import (confusion_matrix, draw_priors,
                                 figure_to_array, make_grid,
                                 per_class_from_confusion,
                                 plot_confusion_matrix,
                                 plot_per_class_accuracy)


def _class_names(dataset, source: str) -> Optional[List[str]]:
    """The classes of ``source`` in a dataset's metainfo (a
    :class:`~mvitx.datasets.CoTrainDataset` keeps each source's metainfo
    under its name), None when it names none."""
    meta = getattr(dataset, 'metainfo', None) or {}
    names = meta.get(source, meta).get('classes')
    return None if names is None else list(names)


def _prior_arrays(priors) -> dict:
    """The packed ``priors`` of a sample in the layout
    :func:`~mvitx.visualization.draw_priors` reads (packing keeps no
    detector classes, links or source frames: boxes are drawn by type,
    unlinked)."""
    types = priors.types.numpy()
    unset = np.full(types.shape, -1, np.int64)
    return dict(
        boxes=priors.bboxes.float().numpy(),
        box_types=types,
        box_scores=priors.scores.float().numpy(),
        box_classes=unset,
        box_links=unset,
        keypoints=priors.keypoints.float().numpy(),
        source_frame=np.zeros(types.shape[0], np.int64))


@HOOKS.register_module()
class VisualizationHook(Hook):
    """Adds images to the Visualizer (TensorBoard and the local backend).

    - ``train_samples/<source>``: once per source, from the first training
      batch that holds it, up to ``num_samples`` augmented samples as the
      model gets them (before normalisation), one row each:
      ``num_frames`` frames spread over the clip (an image is one frame),
      the class name on the first, boxes and keypoints drawn where the
      sample has ``priors``.
    - ``val/per_class_accuracy/<source>`` and
      ``val/confusion_matrix/<source>``: after every validation, from all
      predictions of that validation (arg-max of ``pred_score`` against
      ``gt_label``). Every rank keeps the predictions of its shard; they
      are gathered as the evaluator gathers them (``collect_results``,
      padding of the sampler dropped), so the counts are those of the
      whole validation set, and the main process draws.

    Only the main process writes. Images are logged at ``runner.iter``.

    Args:
        num_samples (int): Training samples shown per source. Defaults
            to 4.
        num_frames (int): Frames shown per clip. Defaults to 4.
        scale (float): Upscaling of the training frames, so small frames
            stay legible. Defaults to 3.
        kpt_thr (float): Keypoints below this score are not drawn.
            Defaults to 0.3.
    """

    priority = 'LOW'

    def __init__(self,
                 num_samples: int = 4,
                 num_frames: int = 4,
                 scale: float = 3.,
                 kpt_thr: float = 0.3):
        self.num_samples = num_samples
        self.num_frames = num_frames
        self.scale = scale
        self.kpt_thr = kpt_thr
        self._shown_sources = set()
        self._preds: List[tuple] = []
        #: ``{source: (K, K) counts}`` of the last validation (main process).
        self.confusion: Dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------
    # training samples
    # ------------------------------------------------------------------
    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs=None) -> None:
        """Draws the samples of sources not shown yet."""
        if not is_main_process() or data_batch is None:
            return
        by_source = defaultdict(list)
        for inputs, sample in zip(data_batch['inputs'],
                                  data_batch['data_samples']):
            source = sample.metainfo.get('source', 'default')
            if source not in self._shown_sources:
                by_source[source].append((inputs, sample))
        for source, items in by_source.items():
            self._shown_sources.add(source)
            names = _class_names(runner.train_dataloader.dataset, source)
            rows = [
                self.render_sample(inputs, sample, names)
                for inputs, sample in items[:self.num_samples]
            ]
            runner.visualizer.add_image(
                f'train_samples_{source}',
                make_grid(rows, 1),
                step=runner.iter)

    def render_sample(self, inputs: torch.Tensor, sample,
                      class_names: Optional[Sequence[str]]) -> np.ndarray:
        """Draws one sample.

        Args:
            inputs (Tensor): uint8 RGB ``(C, T, H, W)`` or ``(C, H, W)``.
            sample (ActionDataSample): Its ``gt_label`` and, if set,
                ``priors``.
            class_names (Sequence[str], optional): Names of the labels;
                None writes the label id.

        Returns:
            np.ndarray: ``(H * scale, n * W * scale, 3)`` uint8 RGB, the
            ``n`` picked frames side by side.
        """
        clip = inputs if inputs.ndim == 4 else inputs[:, None]
        frames = np.ascontiguousarray(clip.permute(1, 2, 3, 0).cpu().numpy())
        picks = np.unique(
            np.linspace(0,
                        len(frames) - 1, min(self.num_frames,
                                             len(frames))).round().astype(int))
        size = (round(frames.shape[2] * self.scale),
                round(frames.shape[1] * self.scale))
        if 'priors' in sample:
            priors = _prior_arrays(sample.priors)
            drawn = [
                draw_priors(frames[i], priors, i, (), self.kpt_thr, self.scale)
                for i in picks
            ]
        else:
            drawn = [
                cv2.resize(frames[i], size, interpolation=cv2.INTER_NEAREST)
                for i in picks
            ]
        label = int(sample.gt_label.view(-1)[0])
        names = class_names or []
        cv2.putText(drawn[0],
                    names[label] if label < len(names) else str(label),
                    (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                    cv2.LINE_AA)
        return np.concatenate(drawn, axis=1)

    # ------------------------------------------------------------------
    # validation charts
    # ------------------------------------------------------------------
    def before_val_epoch(self, runner) -> None:
        self._preds = []

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch: Optional[dict] = None,
                       outputs: Optional[Sequence] = None) -> None:
        """Keeps ``(source, predicted, true, K)`` of each prediction."""
        for sample in outputs or ():
            score = sample.pred_score
            self._preds.append(
                (sample.metainfo.get('source', 'default'), int(score.argmax()),
                 int(sample.gt_label.view(-1)[0]), int(score.numel())))

    def after_val_epoch(self,
                        runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        """Gathers the predictions of all ranks and draws the charts."""
        preds = collect_results(self._preds,
                                len(runner.val_dataloader.dataset), 'cpu')
        self._preds = []
        if not is_main_process():
            return
        by_source = defaultdict(list)
        for source, pred, gt, num_classes in preds:
            by_source[source].append((pred, gt, num_classes))
        self.confusion = {}
        for source in sorted(by_source):
            pred, gt, num = np.array(by_source[source]).T
            matrix = confusion_matrix(pred, gt, int(num.max()))
            self.confusion[source] = matrix
            names = _class_names(runner.val_dataloader.dataset, source)
            if names is None or len(names) != len(matrix):
                names = [str(k) for k in range(len(matrix))]
            accs, counts = per_class_from_confusion(matrix)
            overall = 100.0 * np.trace(matrix) / max(matrix.sum(), 1)
            charts = {
                'per_class_accuracy':
                plot_per_class_accuracy(
                    names, accs, counts, f'{source}: top-1 per class '
                    f'(overall {overall:.1f}%, iter {runner.iter})'),
                'confusion_matrix':
                plot_confusion_matrix(
                    matrix, names,
                    f'{source}: confusion (iter {runner.iter})'),
            }
            for name, fig in charts.items():
                runner.visualizer.add_image(
                    f'val_{name}_{source}',
                    figure_to_array(fig),
                    step=runner.iter)
