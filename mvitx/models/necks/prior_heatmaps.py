"""Geometry of the first-stage token grid and Gaussian heatmaps of prior
regions and keypoints over selected tokens.

Cell ``(t, h, w)`` of a ``T0 x H0 x W0`` grid over an ``H x W`` input of
``F`` frames covers the pixels ``[w*cw, (w+1)*cw) x [h*ch, (h+1)*ch)``,
``cw = W / W0``, ``ch = H / H0``, of the frames ``f`` with
``f * T0 // F == t``. A heatmap value is the probability mass that a
Gaussian puts on a cell's pixels, so the values of one Gaussian over the
whole grid of one frame sum to one (less what falls outside the frame),
and the cell that contains the Gaussian's centre has the largest value.
"""
import math
from typing import Tuple

import torch


def frame_cells(num_frames: torch.Tensor, frames: int,
                grid_t: int) -> torch.Tensor:
    """The temporal cell of every frame.

    Args:
        num_frames (Tensor): ``(N,)`` frames of each sample; ``frames`` is
            the batch maximum, the rest are padding.
        frames (int): Padded frame count ``F``.
        grid_t (int): Temporal cells ``T0``.

    Returns:
        Tensor: ``(N, F)`` cell ``f * T0 // num_frames`` of each frame;
        ``T0`` (past the grid) for padding frames.
    """
    num_frames = num_frames[:, None]
    index = torch.arange(frames, device=num_frames.device)
    cells = index * grid_t // num_frames.clamp(min=1)
    return cells.masked_fill(index >= num_frames, grid_t)


def token_positions(index: torch.Tensor, grid_thw: Tuple[int, int,
                                                         int]) -> torch.Tensor:
    """Grid coordinates of flat token indices.

    Args:
        index (Tensor): ``(N, K)`` flat indices into the ``T0*H0*W0`` grid.
        grid_thw (tuple[int, int, int]): The grid ``(T0, H0, W0)``.

    Returns:
        Tensor: ``(N, K, 3)`` ``(t, y, x)`` cells.
    """
    _, h0, w0 = grid_thw
    return torch.stack([index // (h0 * w0), index // w0 % h0, index % w0], -1)


def _axis_mass(center: torch.Tensor, sigma: torch.Tensor, cell: torch.Tensor,
               size: float) -> torch.Tensor:
    """Mass of ``N(center, sigma^2)`` on ``[cell*size, (cell+1)*size)``,
    ``(N, F, R)`` Gaussians by ``(N, K)`` cells -> ``(N, F, R, K)``."""
    lo = cell[:, None, None].to(center.dtype) * size
    scale = sigma[..., None] * math.sqrt(2)
    upper = torch.erf((lo + size - center[..., None]) / scale)
    return (upper - torch.erf((lo - center[..., None]) / scale)) / 2


def gaussian_token_mass(centers: torch.Tensor, sigmas: torch.Tensor,
                        weights: torch.Tensor, frame_t: torch.Tensor,
                        positions: torch.Tensor,
                        cell_hw: Tuple[float, float]) -> torch.Tensor:
    """Mass of axis-aligned Gaussians on the cells of given tokens, summed
    over the frames of each token's temporal cell.

    Args:
        centers (Tensor): ``(N, F, R, 2)`` centres ``(x, y)`` in input
            pixels, ``R`` Gaussians per frame.
        sigmas (Tensor): ``(N, F, R, 2)`` standard deviations ``(x, y)`` in
            pixels, positive.
        weights (Tensor): ``(N, F, R)`` weight of each Gaussian (0 for
            padding).
        frame_t (Tensor): ``(N, F)`` temporal cell of each frame (see
            :func:`frame_cells`).
        positions (Tensor): ``(N, K, 3)`` ``(t, y, x)`` cells of the
            tokens.
        cell_hw (tuple[float, float]): Cell size ``(ch, cw)`` in pixels.

    Returns:
        Tensor: ``(N, R, K)``: for each Gaussian ``r`` and token ``k``, the
        sum over the frames ``f`` of token ``k``'s temporal cell of
        ``weights[f, r]`` times the mass of Gaussian ``(f, r)`` on the
        token's cell.
    """
    centers, sigmas = centers.float(), sigmas.float()
    t, y, x = positions.unbind(-1)
    mass_x = _axis_mass(centers[..., 0], sigmas[..., 0], x, cell_hw[1])
    mass_y = _axis_mass(centers[..., 1], sigmas[..., 1], y, cell_hw[0])
    in_cell = (frame_t[:, :, None] == t[:, None]).float()
    return torch.einsum('nfrk,nfrk,nfk,nfr->nrk', mass_x, mass_y, in_cell,
                        weights.float())
