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
