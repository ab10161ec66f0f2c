"""Supervision of the top-down attention with a target built from priors."""
import torch
import torch.nn as nn

from mvitx.registry import MODELS


@MODELS.register_module()
class AttentionKLLoss(nn.Module):
    """``KL(target || attention)`` per sample, averaged over the samples
    that have a target.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.
        eps (float): Added inside the logarithms. Defaults to 1e-6.
    """

    def __init__(self, loss_weight: float = 1., eps: float = 1e-6):
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, attention: torch.Tensor,
                target: torch.Tensor) -> torch.Tensor:
        """Computes the loss.

        Args:
            attention (Tensor): ``(N, K)`` attention over K tokens (rows sum
                to one).
            target (Tensor): ``(N, K)`` target distribution; rows of zeros
                mark samples without a target.

        Returns:
            Tensor: Scalar loss (zero, still attached to ``attention``, when
            no sample has a target).
        """
        attention, target = attention.float(), target.float()
        has_target = target.sum(1) > 0
        kl = (target * ((target + self.eps).log() -
                        (attention + self.eps).log())).sum(1)
        if not bool(has_target.any()):
            return attention.sum() * 0
        return self.loss_weight * kl[has_target].mean()
