"""Supervision through feature maps: an auxiliary head on the unpooled
first-stage tokens that the top-down neck selected, trained to predict the
priors' structure (keypoint heatmaps within the regions, and 3D poses where
the priors have them), so that these tokens carry what a deep block looking
back at them needs."""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mvitx.registry import MODELS
from .base_neck import parameters_zero
from .prior_heatmaps import frame_cells, gaussian_token_mass


def keypoint_heatmaps(keypoints: torch.Tensor, frame_t: torch.Tensor,
                      positions: torch.Tensor, cell_hw: Tuple[float, float],
                      sigma: float, score_thr: float) -> torch.Tensor:
    """Heatmaps of keypoints over tokens: the mass of ``N(keypoint,
    sigma^2)`` on each token's cell, summed over the frames of the token's
    temporal cell (see :mod:`.prior_heatmaps`).

    Args:
        keypoints (Tensor): ``(N, F, P, J, 3)`` ``(x, y, score)`` in input
            pixels.
        frame_t (Tensor): ``(N, F)`` temporal cell of each frame.
        positions (Tensor): ``(N, K, 3)`` ``(t, y, x)`` cells of the
            tokens.
        cell_hw (tuple[float, float]): Cell size ``(ch, cw)`` in pixels.
        sigma (float): Standard deviation of the Gaussians in pixels.
        score_thr (float): Keypoints with a lower score are left out.

    Returns:
        Tensor: ``(N, P, J, K)`` heat of each person's keypoints.
    """
    persons, joints = keypoints.shape[2:4]
    centers = keypoints[..., :2].flatten(2, 3)
    visible = (keypoints[..., 2] > score_thr).flatten(2, 3)
    heat = gaussian_token_mass(centers, torch.full_like(centers, sigma),
                               visible, frame_t, positions, cell_hw)
    return heat.unflatten(1, (persons, joints))


def pose3d_targets(keypoints3d: torch.Tensor, frame_t: torch.Tensor,
                   grid_t: int,
                   score_thr: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Translation- and scale-free 3D poses per person and temporal cell.

    Each frame's pose is centred on the mean of its joints above
    ``score_thr`` and divided by their RMS distance from it (so the units
    of the pose lifter do not matter); a temporal cell averages its frames.

    Args:
        keypoints3d (Tensor): ``(N, F, P, K3, 4)`` ``(x, y, z, score)``.
        frame_t (Tensor): ``(N, F)`` temporal cell of each frame.
        grid_t (int): Temporal cells ``T0``.
        score_thr (float): Joints with a lower score are left out.

    Returns:
        tuple[Tensor, Tensor]: Poses ``(N, P, T0, K3, 3)`` and a bool
        ``(N, P, T0, K3)``: the joint has a target (above the threshold in
        one of the cell's frames whose pose has two such joints or more).
    """
    xyz = keypoints3d[..., :3].float()
    visible = (keypoints3d[..., 3] > score_thr).float()
    count = visible.sum(-1, keepdim=True)
    center = (xyz * visible[..., None]).sum(
        -2, keepdim=True) / count.clamp(min=1)[..., None]
    centred = xyz - center
    rms = ((centred.square().sum(-1) * visible).sum(-1, keepdim=True) /
           count.clamp(min=1)).sqrt()
    visible = visible * ((count >= 2) & (rms > 1e-6))
    poses = centred / rms.clamp(min=1e-6)[..., None]
    cells = F.one_hot(frame_t, grid_t + 1)[..., :grid_t].float()
    weight = torch.einsum('nfpj,nft->nptj', visible, cells)
    poses = torch.einsum('nfpjc,nfpj,nft->nptjc', poses, visible,
                         cells) / weight.clamp(min=1)[..., None]
    return poses, weight > 0


@MODELS.register_module()
class PriorStructureHead(BaseModule):
    """Predicts the priors' structure from the selected first-stage tokens
    of :class:`~mvitx.models.necks.TopDownModulation` (its
    ``structure_head``).

    Every token goes alone through a small MLP (LayerNorm, linear, GELU),
    so what the head can read is what the token's own features hold.

    **Keypoint heatmaps** (``loss_topdown_struct``): for each keypoint of
    ``keypoint_indices`` and each temporal cell, the per-token logits are
    softmax-normalised over the cell's selected tokens and pulled by
    ``KL(target || prediction)`` towards the target: the mass of
    ``N(keypoint, sigma^2)`` on each token's cell, summed over persons and
    the cell's frames and normalised over the cell's selected tokens. A
    (keypoint, cell) pair counts only when the selected tokens hold at
    least ``min_coverage`` of its mass; the loss is the mean over the pairs
    that count.

    **3D poses** (``loss_topdown_struct3d``, only with
    ``num_keypoints3d > 0``): for each person and temporal cell, the MLP
    features of the cell's selected tokens are averaged with the person's
    keypoint heat as weights (same coverage rule) and mapped linearly to
    ``num_keypoints3d`` 3D joints, compared (L1 over ``x, y, z``, mean over
    joints) with the person's pose from ``priors.keypoints3d`` made
    translation- and scale-free (:func:`pose3d_targets`). Batches without
    3D keypoints give a zero.

    Args:
        in_channels (int): Channels of the first-stage tokens (the neck
            fills it in).
        keypoint_indices (Sequence[int]): Keypoints (ids of the priors'
            layout) to predict, e.g. the hands and face of
            ``coco_wholebody`` (23-132) or the demo hand and fingertips
            (1-5).
        num_keypoints3d (int): Joints of the 3D layout (17 for ``'h36m'``);
            0 turns the 3D term off. Defaults to 0.
        hidden_channels (int): MLP channels. Defaults to 128.
        sigma (float): Standard deviation of the keypoint Gaussians in
            input pixels. Defaults to 2.
        min_coverage (float): Share of a keypoint's (or person's) mass the
            selected tokens must hold. Defaults to 0.5.
        keypoint_score_thr (float): Minimum score of a 2D keypoint or 3D
            joint. Defaults to 0.3.
        loss_weight (float): Weight of the heatmap loss. Defaults to 1.
        loss_weight3d (float): Weight of the 3D loss. Defaults to 1.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 keypoint_indices: Sequence[int],
                 num_keypoints3d: int = 0,
                 hidden_channels: int = 128,
                 sigma: float = 2.,
                 min_coverage: float = 0.5,
                 keypoint_score_thr: float = 0.3,
                 loss_weight: float = 1.,
                 loss_weight3d: float = 1.,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if not keypoint_indices:
            raise ValueError('PriorStructureHead needs keypoint_indices')
        self.keypoint_indices = tuple(keypoint_indices)
        self.num_keypoints3d = num_keypoints3d
        self.sigma = sigma
        self.min_coverage = min_coverage
        self.keypoint_score_thr = keypoint_score_thr
        self.loss_weight = loss_weight
        self.loss_weight3d = loss_weight3d
        self.mlp = nn.Sequential(
            nn.LayerNorm(in_channels), nn.Linear(in_channels, hidden_channels),
            nn.GELU())
        self.heatmap = nn.Linear(hidden_channels, len(self.keypoint_indices))
        self.pose3d = None
        if num_keypoints3d:
            self.pose3d = nn.Linear(hidden_channels, 3 * num_keypoints3d)
        #: What :meth:`loss` returns.
        self.loss_keys = ('loss_topdown_struct', ) + (
            ('loss_topdown_struct3d', ) if num_keypoints3d else ())

    def forward(self,
                tokens: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-token features and heatmap logits.

        Args:
            tokens (Tensor): ``(N, K, in_channels)`` selected tokens.

        Returns:
            tuple[Tensor, Tensor]: MLP features ``(N, K, hidden_channels)``
            and logits ``(N, K, J)``, ``J = len(keypoint_indices)``.
        """
        feats = self.mlp(tokens)
        return feats, self.heatmap(feats)

    def loss(self, tokens: torch.Tensor, positions: torch.Tensor,
             valid: torch.Tensor, keypoints: torch.Tensor,
             keypoints3d: torch.Tensor, num_frames: torch.Tensor,
             grid_thw: Tuple[int, int, int],
             input_hw: Tuple[int, int]) -> Dict[str, torch.Tensor]:
        """The structure losses of one batch.

        Args:
            tokens (Tensor): ``(N, K, in_channels)`` selected first-stage
                tokens.
            positions (Tensor): ``(N, K, 3)`` their ``(t, y, x)`` cells.
            valid (Tensor): ``(N, K)`` bool, False for padding.
            keypoints (Tensor): ``(N, F, P, J, 3)`` the ``keypoint_indices``
                of the priors, ``(x, y, score)`` in input pixels.
            keypoints3d (Tensor): ``(N, F, P, K3, 4)`` 3D joints ``(x, y,
                z, score)`` of the same persons (score 0 where the priors
                have none).
            num_frames (Tensor): ``(N,)`` prior frames of each sample
                (``F`` is the batch maximum).
            grid_thw (tuple[int, int, int]): First-stage grid.
            input_hw (tuple[int, int]): Input size in pixels.

        Returns:
            dict: ``loss_topdown_struct`` and, with ``num_keypoints3d``,
            ``loss_topdown_struct3d``: weighted means over what has a
            target; zeros that still reach every parameter of the head
            otherwise.
        """
        grid_t = grid_thw[0]
        feats, logits = self(tokens)
        member = (F.one_hot(positions[..., 0], grid_t) *
                  valid[..., None]).float()  # (N, K, T0)
        with torch.no_grad():
            frame_t = frame_cells(num_frames, keypoints.shape[1], grid_t)
            cells = F.one_hot(frame_t, grid_t + 1)[..., :grid_t].float()
            cell_hw = (input_hw[0] / grid_thw[1], input_hw[1] / grid_thw[2])
            heat = keypoint_heatmaps(keypoints, frame_t, positions, cell_hw,
                                     self.sigma, self.keypoint_score_thr)
            visible = (keypoints[..., 2] > self.keypoint_score_thr).float()
        losses = dict(
            loss_topdown_struct=self._heatmap_loss(logits, heat, member,
                                                   visible, cells))
        if self.pose3d is not None:
            losses['loss_topdown_struct3d'] = self._pose3d_loss(
                feats, heat, member, visible, cells, keypoints3d, frame_t)
        return losses

    def _heatmap_loss(self, logits: torch.Tensor, heat: torch.Tensor,
                      member: torch.Tensor, visible: torch.Tensor,
                      cells: torch.Tensor) -> torch.Tensor:
        """KL of the per-(keypoint, cell) softmax over the cell's tokens;
        shapes as in :meth:`loss` (``heat`` ``(N, P, J, K)``, ``member``
        ``(N, K, T0)``, ``visible`` ``(N, F, P, J)``, ``cells``
        ``(N, F, T0)``)."""
        in_cell = member.transpose(1, 2)[:, None]  # (N, 1, T0, K)
        target = heat.sum(1)[:, :, None] * in_cell  # (N, J, T0, K)
        mass = target.sum(-1)
        expected = torch.einsum('nfpj,nft->njt', visible, cells)
        counts = (expected > 0) & (mass >= self.min_coverage * expected)
        if not bool(counts.any()):
            return parameters_zero(self, logits)
        target = target / mass.clamp(min=1e-12)[..., None]
        scores = logits.float().transpose(1, 2)[:, :, None]
        log_prob = scores.masked_fill(in_cell == 0,
                                      torch.finfo(scores.dtype).min)
        log_prob = log_prob.log_softmax(-1)
        kl = (torch.xlogy(target, target) - target * log_prob).sum(-1)
        return self.loss_weight * kl[counts].mean()

    def _pose3d_loss(self, feats: torch.Tensor, heat: torch.Tensor,
                     member: torch.Tensor, visible: torch.Tensor,
                     cells: torch.Tensor, keypoints3d: torch.Tensor,
                     frame_t: torch.Tensor) -> torch.Tensor:
        """L1 of each person's pose from its heat-pooled token features;
        shapes as in :meth:`_heatmap_loss`."""
        if keypoints3d.shape[2] == 0:
            return parameters_zero(self.pose3d, feats)
        grid_t = member.shape[-1]
        weights = torch.einsum('npjk,nkt->nptk', heat, member)
        mass = weights.sum(-1)
        expected = torch.einsum('nfpj,nft->npt', visible, cells)
        pooled_ok = (expected > 0) & (mass >= self.min_coverage * expected)
        target, has_target = pose3d_targets(keypoints3d, frame_t, grid_t,
                                            self.keypoint_score_thr)
        counts = has_target & pooled_ok[..., None]
        if not bool(counts.any()):
            return parameters_zero(self.pose3d, feats)
        pooled = torch.einsum('nptk,nkc->nptc',
                              weights / mass.clamp(min=1e-12)[..., None],
                              feats.float())
        pred = self.pose3d(pooled.to(feats.dtype)).float().unflatten(
            -1, (self.num_keypoints3d, 3))
        error = (pred - target).abs().sum(-1)
        return self.loss_weight3d * error[counts].mean()
