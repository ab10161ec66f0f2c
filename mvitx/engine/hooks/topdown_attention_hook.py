"""Shows where the top-down module looks: its attention over the frames of
a fixed validation batch, written through the Visualizer (TensorBoard)."""
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mvitx.registry import HOOKS
from mvitx.visualization import render_attention


@HOOKS.register_module()
class TopDownAttentionHook(Hook):
    """After validation, runs the first validation batch (fixed: it is
    taken once and kept) and adds one image per modulated block,
    ``topdown_attention/block<i>``, to the Visualizer: the batch's first
    ``num_samples`` clips, one row each, frames side by side, overlaid with
    the top-down attention (averaged over heads and queries).

    Only the main process writes. The hook preprocesses the batch with the
    model's ``data_preprocessor``, runs ``model.extract_feat`` on it (a
    :class:`~mvitx.models.BaseActionModel`; multi-view batches as one batch
    of views) and draws ``model.neck.attention_maps(modulation)`` of the
    modulation it returns; the neck must have ``attention_maps``
    (:class:`mvitx.models.necks.TopDownModulation`). The batch must hold
    one source (a mixed batch is split per source; the hook then warns and
    writes nothing).

    Args:
        interval (int): Every ``interval`` validation runs. Defaults to 1.
        num_samples (int): Clips shown. Defaults to 4.
        alpha (float): Heat map opacity. Defaults to 0.6.
    """

    priority = 'LOW'

    def __init__(self,
                 interval: int = 1,
                 num_samples: int = 4,
                 alpha: float = 0.6):
        self.interval = interval
        self.num_samples = num_samples
        self.alpha = alpha
        self._batch: Optional[dict] = None
        self._runs = 0

    def after_val_epoch(self,
                        runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        """Writes the attention images of the fixed batch."""
        self._runs += 1
        if not is_main_process() or (self._runs - 1) % self.interval:
            return
        if self._batch is None:
            self._batch = next(iter(runner.val_dataloader))
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        neck = getattr(model, 'neck', None)
        if neck is None or not hasattr(neck, 'attention_maps'):
            raise TypeError('TopDownAttentionHook needs a model whose neck '
                            'has attention_maps() (TopDownModulation)')
        with torch.no_grad():
            data = model.data_preprocessor(self._batch, False)
            if isinstance(data['inputs'], dict):
                runner.logger.warning(
                    'TopDownAttentionHook: the first validation batch mixes '
                    f'sources {sorted(data["inputs"])}; nothing written')
                return
            x, num_views = model.flatten_views(data['inputs'],
                                               data['data_samples'])
            _, modulation = model.extract_feat(x, data['data_samples'])
        inputs = self._batch['inputs']
        count = min(self.num_samples, len(inputs))
        for index, maps in neck.attention_maps(modulation).items():
            rows = []
            for i in range(count):
                clip = inputs[i][0] if num_views > 1 else inputs[i]
                if clip.ndim == 3:  # an image (C, H, W)
                    clip = clip[:, None]
                frames = clip.permute(1, 2, 3, 0).cpu().numpy()
                rows.append(
                    render_attention(frames, maps[i * num_views], self.alpha))
            runner.visualizer.add_image(
                f'topdown_attention/block{index}',
                np.concatenate(rows, axis=0),
                step=runner.iter)
