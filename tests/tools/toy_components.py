"""A dataset and model small enough to test the training tools (launchers,
TensorBoard, checkpoints, resume) on their own, loaded by the test configs
through ``custom_imports`` exactly as a user's plugin would be."""
import torch
import torch.nn as nn
from mmengine.dataset import BaseDataset
from mmengine.hooks import Hook
from mmengine.model import BaseModel

from mvitx.registry import DATASETS, HOOKS, MODELS


@DATASETS.register_module()
class ToyRegressionDataset(BaseDataset):
    """``length`` fixed samples ``x`` (8 features) with target ``x @ w``."""

    def __init__(self, length: int = 64, **kwargs):
        self.length = length
        super().__init__(serialize_data=False, **kwargs)

    def load_data_list(self):
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(self.length, 8, generator=gen)
        y = x @ torch.arange(8.0)
        return [dict(x=xi, y=yi) for xi, yi in zip(x, y)]


@MODELS.register_module()
class ToyRegressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 1)

    def forward(self, x, y, mode='tensor', **kwargs):
        pred = self.fc(torch.stack(x) if isinstance(x, list) else x)[:, 0]
        y = torch.stack(y) if isinstance(y, list) else y
        if mode == 'loss':
            return dict(loss=((pred - y)**2).mean())
        return pred


@HOOKS.register_module()
class CrashAtIterHook(Hook):
    """Kills training after iteration ``crash_iter`` (1-based), as a node
    failure would."""

    def __init__(self, crash_iter: int):
        self.crash_iter = crash_iter

    def after_train_iter(self, runner, batch_idx, **kwargs):
        if runner.iter + 1 == self.crash_iter:
            raise SystemExit(f'crash at iteration {self.crash_iter}')


@MODELS.register_module()
class ToyMotionRecognizer(BaseModel):
    """A fixed rule, no training: scores ``falls`` when the moving pixels of
    a clip go down and ``rises`` when they go up (the demo data's
    ``object falls``/``object rises``, each the other's time reversal).

    Its one parameter only gives the tools a checkpoint to load.
    """

    def __init__(self, num_classes: int, falls: int, rises: int):
        super().__init__()
        self.num_classes, self.falls, self.rises = num_classes, falls, rises
        self.gain = nn.Parameter(torch.ones(()))

    def _score(self, clip: torch.Tensor) -> torch.Tensor:
        """``(num_classes,)`` scores of ``(C, T, H, W)`` or multi-view
        ``(V, C, T, H, W)`` uint8 frames."""
        views = clip.float().reshape(-1, *clip.shape[-4:]).mean(1)
        moving = (views - views.median(1, keepdim=True).values).abs()
        rows = torch.arange(moving.shape[2], dtype=torch.float32)
        height = (moving.sum(3) * rows).sum(2) / moving.sum((2, 3)).clamp(1)
        # Least-squares slope of the moving pixels' mean row over time.
        t = torch.arange(height.shape[1], dtype=torch.float32)
        t = t - t.mean()
        slope = ((height * t).sum(1) / (t * t).sum()).mean()
        score = torch.zeros(self.num_classes)
        score[self.falls if slope > 0 else self.rises] = self.gain
        return score

    def forward(self, inputs, data_samples=None, mode='tensor'):
        scores = [self._score(clip) for clip in inputs]
        if mode != 'predict':
            return torch.stack(scores)
        for sample, score in zip(data_samples, scores):
            sample.pred_score = score
        return data_samples
