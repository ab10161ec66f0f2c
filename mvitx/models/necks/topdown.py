"""Top-down modulation: deep backbone tokens look back at the unpooled
first-stage tokens inside prior regions (hands, faces, objects, windows
around keypoints) and modulate the later blocks through gated residuals.

The module is a model's ``neck`` (:class:`BaseNeck` protocol) that works
inside the backbone. Every batch's data goes from call to call as arguments
and return values; the module keeps none of it:

1. ``context = neck.make_context(data_samples, inputs.shape)``: the batch's
   priors as padded regions (a :class:`ModulationContext`; None for
   ``data_samples=None``, which leaves the backbone plain);
2. ``feats, modulation = backbone(inputs, context)``: the backbone has the
   context select the first-stage tokens once and modulate the output of
   every block in ``block_indices``, and returns the selection and each
   block's attention (a :class:`ModulationOutput`);
3. ``feats = neck(feats, data_samples)``: identity, the features were
   modulated inside the backbone;
4. in ``'loss'`` mode ``losses.update(neck.loss(modulation))``: the
   attention supervision loss against a heatmap target built from the
   priors, the structure losses of the auxiliary head on the selected
   tokens (:class:`~.prior_structure_head.PriorStructureHead`) and
   attention statistics to log; ``neck.attention_maps(modulation)`` for
   the visualisation.

Building the model calls ``neck.check_backbone(backbone)``, which checks
``stage0_channels``, ``block_indices`` and ``block_channels`` against the
backbone.
"""
import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mvitx.registry import MODELS
from mvitx.structures import (FACE, HAND, KEYPOINT, OBJECT, PAD_TYPE,
                              REGION_TYPE_NAMES)
from .base_neck import BaseNeck, ModulationOutput, parameters_zero
from .prior_heatmaps import frame_cells, gaussian_token_mass, token_positions


class TokenSelection(NamedTuple):
    """First-stage tokens chosen for each sample.

    Attributes:
        index (Tensor): ``(N, K)`` flat indices into the ``T0*H0*W0`` grid,
            ascending among the valid entries; padding entries are 0.
        valid (Tensor): ``(N, K)`` bool, False for padding.
        types (Tensor): ``(N, K)`` region type of each token (the
            highest-priority region covering its cell), 0 for padding.
    """
    index: torch.Tensor
    valid: torch.Tensor
    types: torch.Tensor


def select_prior_tokens(boxes: torch.Tensor, types: torch.Tensor,
                        scores: torch.Tensor, valid: torch.Tensor,
                        num_frames: torch.Tensor, input_hw: Tuple[int, int],
                        grid_thw: Tuple[int, int, int], max_tokens: int,
                        type_priority: torch.Tensor) -> TokenSelection:
    """Selects the grid cells that overlap prior regions, under a budget.

    Cell ``(t, h, w)`` of a ``T0 x H0 x W0`` grid over an ``H x W`` input of
    ``F`` frames covers the pixels ``[w*W/W0, (w+1)*W/W0) x [h*H/H0,
    (h+1)*H/H0)`` of the frames ``f`` with ``f * T0 // F == t``. A cell is
    covered when a valid region of one of its frames overlaps it with
    positive area. When more cells are covered than ``max_tokens``, the cells
    of the highest-priority region type win; within a type, cells rank by
    ``2 * region score + centrality`` (1 at the region's centre, 0 at its
    border), so a cut keeps the cores of all regions in all frames rather
    than whole early frames; remaining ties go to lower flat indices.

    Args:
        boxes (Tensor): ``(N, F, R, 4)`` region boxes, xyxy input pixels.
        types (Tensor): ``(N, F, R)`` region type ids (see
            :data:`mvitx.structures.REGION_TYPE_NAMES`).
        scores (Tensor): ``(N, F, R)`` region scores in ``[0, 1]``.
        valid (Tensor): ``(N, F, R)`` bool, False for padding.
        num_frames (Tensor): ``(N,)`` frames of each sample (``F`` is the
            batch maximum; the rest are padding).
        input_hw (tuple[int, int]): Input size ``(H, W)`` in pixels.
        grid_thw (tuple[int, int, int]): Token grid ``(T0, H0, W0)``.
        max_tokens (int): Token budget per sample.
        type_priority (Tensor): ``(num_types,)`` priority per region type;
            higher is selected first.

    Returns:
        TokenSelection: ``K = min(max_tokens, most covered cells in the
        batch)`` tokens per sample.
    """
    n, num_f, _ = types.shape
    t0, h0, w0 = grid_thw
    device = boxes.device
    if not bool(valid.any()):
        empty = torch.zeros(n, 0, dtype=torch.long, device=device)
        return TokenSelection(empty, empty.bool(), empty)
    cell_h, cell_w = input_hw[0] / h0, input_hw[1] / w0
    x1, y1, x2, y2 = boxes.float().unbind(-1)
    valid = valid & (x2 > x1) & (y2 > y1)
    rows = torch.arange(h0, device=device)
    cols = torch.arange(w0, device=device)
    # Cell w overlaps [x1, x2) iff floor(x1 / cw) <= w < ceil(x2 / cw).
    in_rows = ((rows >= torch.floor(y1 / cell_h)[..., None])
               & (rows < torch.ceil(y2 / cell_h)[..., None]))
    in_cols = ((cols >= torch.floor(x1 / cell_w)[..., None])
               & (cols < torch.ceil(x2 / cell_w)[..., None]))
    covers = in_rows[..., :, None] & in_cols[..., None, :]
    # Type dominates: score and centrality add at most 3 < 8 * 0.5.
    priority = type_priority.to(device)[
        types.long()] * 8 + scores.float().clamp(0, 1) * 2
    priority = priority.masked_fill(~valid, -math.inf)
    # Chebyshev distance of cell centres from the region centre, in half
    # region sizes (widened by half a cell, so small regions stay central).
    dy = ((rows + 0.5) * cell_h - (y1 + y2)[..., None] / 2).abs() / (
        (y2 - y1)[..., None] / 2 + cell_h / 2)
    dx = ((cols + 0.5) * cell_w - (x1 + x2)[..., None] / 2).abs() / (
        (x2 - x1)[..., None] / 2 + cell_w / 2)
    centrality = (1 - torch.maximum(dy[..., :, None], dx[..., None, :])).clamp(
        0, 1)
    cell_prio = torch.where(covers, priority[..., None, None] + centrality,
                            -math.inf)
    # Best region per cell and frame: (N, F, H0 * W0).
    frame_prio, region = cell_prio.flatten(-2).max(dim=2)
    frame_type = types.long().gather(2, region)
    # Padded frames map past the grid.
    frame_t = frame_cells(num_frames.to(device), num_f, t0)
    in_t = frame_t[..., None] == torch.arange(t0, device=device)
    prio_t = torch.where(in_t[..., None], frame_prio[:, :, None], -math.inf)
    best_prio, best_frame = prio_t.max(dim=1)  # (N, T0, H0 * W0)
    cell_type = frame_type.gather(1, best_frame).flatten(1)
    best_prio = best_prio.flatten(1)
    covered = best_prio > -math.inf
    k = min(max_tokens, int(covered.sum(1).max()))
    order = torch.sort(best_prio, dim=1, descending=True, stable=True)[1]
    index = order[:, :k]
    sel_valid = covered.gather(1, index)
    # Ascending indices, padding last.
    index = torch.sort(
        index.masked_fill(~sel_valid, best_prio.shape[1]), dim=1)[0]
    sel_valid = index < best_prio.shape[1]
    index = index.masked_fill(~sel_valid, 0)
    sel_types = cell_type.gather(1, index).masked_fill(~sel_valid, 0)
    return TokenSelection(index, sel_valid, sel_types)


def priors_to_regions(priors, box_types: Sequence[int],
                      keypoint_indices: Sequence[int], keypoint_window: float,
                      keypoint_score_thr: float) -> Dict[str, torch.Tensor]:
    """Turns one sample's packed priors into region boxes.

    Boxes of the listed ``box_types`` keep their type; each chosen keypoint
    with score above the threshold becomes a square window of side
    ``keypoint_window`` pixels centred on it, of type ``KEYPOINT``.

    Args:
        priors (BaseDataElement): ``bboxes`` ``(T, M, 4)``, ``types``
            ``(T, M)``, optional ``scores`` ``(T, M)``, ``valid`` ``(T, M)``
            and ``keypoints`` ``(T, P, K, 3)``.
        box_types (Sequence[int]): Box types to use.
        keypoint_indices (Sequence[int]): Keypoints to put windows on.
        keypoint_window (float): Window side in input pixels.
        keypoint_score_thr (float): Minimum keypoint score.

    Returns:
        dict: ``boxes`` ``(T, R, 4)``, ``types``, ``scores``, ``valid``
        ``(T, R)``.
    """
    boxes = priors.bboxes.float()
    types = priors.types.long()
    scores = (
        priors.scores.float()
        if 'scores' in priors else torch.ones_like(boxes[..., 0]))
    valid = priors.valid.bool() if 'valid' in priors else types != PAD_TYPE
    valid = valid & torch.isin(types, types.new_tensor(list(box_types)))
    keypoints = priors.get('keypoints')
    if keypoint_indices and keypoints is not None and keypoints.numel():
        kpts = keypoints[:, :, list(keypoint_indices)].float().flatten(1, 2)
        half = keypoint_window / 2
        xy = kpts[..., :2]
        boxes = torch.cat([boxes, torch.cat([xy - half, xy + half], -1)], 1)
        types = torch.cat(
            [types, torch.full_like(kpts[..., 0], KEYPOINT).long()], 1)
        scores = torch.cat([scores, kpts[..., 2]], 1)
        valid = torch.cat([valid, kpts[..., 2] > keypoint_score_thr], 1)
    return dict(boxes=boxes, types=types, scores=scores, valid=valid)


def priors_to_keypoints(priors, keypoint_indices: Sequence[int],
                        num_keypoints3d: int) -> Dict[str, torch.Tensor]:
    """One sample's keypoints for the structure head.

    Args:
        priors (BaseDataElement): ``bboxes`` ``(T, M, 4)``, optional
            ``keypoints`` ``(T, P, K, 3)`` and ``keypoints3d``
            ``(T, P3, K3, 4)`` ``(x, y, z, score)`` of the same persons.
        keypoint_indices (Sequence[int]): Keypoints to keep.
        num_keypoints3d (int): Expected ``K3`` (0: none kept).

    Returns:
        dict: ``keypoints`` ``(T, P, J, 3)``, ``J = len(keypoint_indices)``,
        and ``keypoints3d`` ``(T, P, num_keypoints3d, 4)`` (zeros for
        persons without 3D keypoints, ``P = 0`` without 2D keypoints).

    Raises:
        ValueError: If the priors have fewer keypoints than the largest
            index, other 3D joints than ``num_keypoints3d`` or more 3D
            persons than 2D ones.
    """
    frames = priors.bboxes.shape[0]
    ids = list(keypoint_indices)
    keypoints = priors.get('keypoints')
    if keypoints is None or keypoints.shape[1] == 0 or not ids:
        keypoints = priors.bboxes.new_zeros(frames, 0, len(ids), 3)
    elif keypoints.shape[2] <= max(ids):
        raise ValueError(f'the structure head predicts keypoints {ids}, '
                         f'but the priors have {keypoints.shape[2]}')
    else:
        keypoints = keypoints[:, :, ids].float()
    persons = keypoints.shape[1]
    points3d = keypoints.new_zeros(frames, persons, num_keypoints3d, 4)
    stored = priors.get('keypoints3d') if num_keypoints3d else None
    if stored is not None and stored.shape[1]:
        if stored.shape[2] != num_keypoints3d or stored.shape[1] > persons:
            raise ValueError(
                f'priors.keypoints3d has shape {tuple(stored.shape)}: the '
                f'structure head needs {num_keypoints3d} joints of at most '
                f'the {persons} persons of the 2D keypoints')
        points3d[:, :stored.shape[1]] = stored.float()
    return dict(keypoints=keypoints, keypoints3d=points3d)


def attention_entropy(dist: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of each row of ``(N, K)`` distributions."""
    return -torch.xlogy(dist, dist).sum(1)


def top_tokens(target: torch.Tensor, mass: float = 0.5) -> torch.Tensor:
    """The target's top tokens: per row of ``target`` ``(N, K)``, the
    fewest tokens that hold ``mass`` of it (largest first); ``(N, K)``
    bool."""
    ordered, order = target.sort(1, descending=True)
    keep = (ordered.cumsum(1) - ordered < mass) & (ordered > 0)
    return torch.zeros_like(keep).scatter(1, order, keep)


class PriorCrossAttention(nn.Module):
    """Deep tokens query the selected shallow tokens; the gated result is
    added to the deep tokens.

    Args:
        query_dims (int): Channels of the deep tokens.
        key_dims (int): Channels of the selected first-stage tokens.
        embed_dims (int): Attention channels.
        num_heads (int): Attention heads.
        query_mode (str): ``'all'`` (every deep token queries), ``'pooled'``
            (average-pooled deep tokens query, the result is repeated back
            to the full grid) or ``'cls'`` (one query, the mean deep token,
            whose result is added to every token).
        query_pool_stride (tuple[int, int, int]): Pooling stride
            ``(t, h, w)`` of ``'pooled'`` queries.
    """

    def __init__(self, query_dims: int, key_dims: int, embed_dims: int,
                 num_heads: int, query_mode: str,
                 query_pool_stride: Tuple[int, int, int]):
        super().__init__()
        if query_mode not in ('all', 'pooled', 'cls'):
            raise ValueError(f'query_mode must be all, pooled or cls, got '
                             f'{query_mode!r}')
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by '
                             f'num_heads {num_heads}')
        self.num_heads = num_heads
        self.query_mode = query_mode
        self.query_pool_stride = tuple(query_pool_stride)
        self.norm = nn.LayerNorm(query_dims)
        self.q = nn.Linear(query_dims, embed_dims)
        self.kv = nn.Linear(key_dims, 2 * embed_dims)
        self.proj = nn.Linear(embed_dims, query_dims)
        # Zero gate: at initialisation the block adds nothing.
        self.gate = nn.Parameter(torch.zeros(query_dims))

    def _queries(self, tokens: torch.Tensor, thw: Tuple[int, int,
                                                        int]) -> torch.Tensor:
        if self.query_mode == 'all':
            return tokens
        if self.query_mode == 'cls':
            return tokens.mean(1, keepdim=True)
        grid = tokens.transpose(1, 2).unflatten(2, thw)
        return F.avg_pool3d(
            grid,
            self.query_pool_stride,
            self.query_pool_stride,
            ceil_mode=True,
            count_include_pad=False).flatten(2).transpose(1, 2)

    def _spread(self, out: torch.Tensor, thw: Tuple[int, int,
                                                    int]) -> torch.Tensor:
        """Query outputs back to one value per deep token."""
        if self.query_mode != 'pooled':
            return out
        t, h, w = thw
        st, sh, sw = self.query_pool_stride
        grid = out.transpose(1, 2).unflatten(
            2, (-(-t // st), -(-h // sh), -(-w // sw)))
        grid = grid.repeat_interleave(st, 2).repeat_interleave(
            sh, 3).repeat_interleave(sw, 4)[:, :, :t, :h, :w]
        return grid.flatten(2).transpose(1, 2)

    def forward(self, tokens: torch.Tensor, thw: Tuple[int, int, int],
                keys: torch.Tensor,
                key_valid: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Modulates ``tokens``.

        Args:
            tokens (Tensor): ``(N, T*H*W, query_dims)`` deep tokens.
            thw (tuple[int, int, int]): Their grid ``(T, H, W)``.
            keys (Tensor): ``(N, K, key_dims)`` embedded selected tokens.
            key_valid (Tensor): ``(N, K)`` bool, False for padding.

        Returns:
            tuple[Tensor, Tensor]: The modulated tokens (same shape) and the
            attention over the keys averaged over heads and queries
            ``(N, K)``.
        """
        n, k = key_valid.shape
        queries = self.q(self.norm(self._queries(tokens, thw)))
        q = queries.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)
        key, value = self.kv(keys).unflatten(-1,
                                             (2, self.num_heads, -1)).permute(
                                                 2, 0, 3, 1, 4)
        logits = (q @ key.transpose(-2, -1)) * q.shape[-1]**-0.5
        logits = logits.masked_fill(~key_valid[:, None, None],
                                    torch.finfo(logits.dtype).min)
        attn = logits.softmax(-1)
        out = (attn @ value).transpose(1, 2).flatten(2)
        # Samples without any selected token stay unchanged.
        has_keys = key_valid.any(1).to(out.dtype)[:, None, None]
        out = self._spread(self.proj(out), thw) * has_keys
        return tokens + (self.gate * out).to(tokens.dtype), attn.mean((1, 2))


class PriorRegions(NamedTuple):
    """A batch's prior regions and the keypoints of its structure targets,
    padded to the batch's largest frame, region and person counts.

    Attributes:
        boxes (Tensor): ``(N, F, R, 4)`` xyxy input pixels.
        types (Tensor): ``(N, F, R)`` region type ids.
        scores (Tensor): ``(N, F, R)`` scores in ``[0, 1]``.
        valid (Tensor): ``(N, F, R)`` bool, False for padding.
        keypoints (Tensor): ``(N, F, P, J, 3)`` the structure head's
            keypoints ``(x, y, score)`` (``J = 0`` without a head).
        keypoints3d (Tensor): ``(N, F, P, K3, 4)`` 3D joints ``(x, y, z,
            score)`` of the same persons (``K3 = 0`` without a 3D head).
        num_frames (Tensor): ``(N,)`` frames of each sample (0 for samples
            without priors).
    """
    boxes: torch.Tensor
    types: torch.Tensor
    scores: torch.Tensor
    valid: torch.Tensor
    keypoints: torch.Tensor
    keypoints3d: torch.Tensor
    num_frames: torch.Tensor


def regions_for_batch(regions: PriorRegions, batch: int) -> PriorRegions:
    """The regions of ``N`` samples for a backbone batch of ``batch``
    inputs: multi-view batches (``V = batch / N`` views per sample) split
    each sample's prior frames into ``V`` equal clips (multi-clip test), or
    repeat them when they do not split (multi-crop test).

    Args:
        regions (PriorRegions): Regions of ``N`` samples.
        batch (int): Backbone batch size, a multiple of ``N``.

    Returns:
        PriorRegions: Regions of ``batch`` inputs.
    """
    n = regions.num_frames.shape[0]
    if batch == n:
        return regions
    if batch % n:
        raise ValueError(f'backbone batch {batch} is not a multiple of '
                         f'the {n} samples of the modulation context')
    views = batch // n
    frames = regions.boxes.shape[1]
    num_frames = regions.num_frames
    # Samples without priors have no frames; the others all have F.
    uneven = (num_frames != frames) & (num_frames != 0)
    if frames % views or bool(uneven.any()):
        return PriorRegions(*(value.repeat_interleave(views, 0)
                              for value in regions))
    split = {
        key: value.unflatten(1, (views, -1)).flatten(0, 1)
        for key, value in regions._asdict().items() if key != 'num_frames'
    }
    return PriorRegions(
        num_frames=(num_frames // views).repeat_interleave(views), **split)


class ModulationContext(NamedTuple):
    """One batch's top-down modulation, made from its priors by
    :meth:`TopDownModulation.make_context` and passed to the backbone
    (``backbone(inputs, context)``, see
    :class:`~mvitx.models.backbones.MViT`).

    Attributes:
        neck (TopDownModulation): The neck whose weights modulate.
        regions (PriorRegions): The batch's prior regions and the
            structure head's keypoints.
        input_hw (tuple[int, int]): Input size ``(H, W)`` in pixels, which
            the boxes refer to.
    """
    neck: 'TopDownModulation'
    regions: PriorRegions
    input_hw: Tuple[int, int]

    @property
    def block_indices(self) -> Tuple[int, ...]:
        """Backbone blocks whose outputs are modulated."""
        return self.neck.block_indices

    def priors(self, batch: int, device: torch.device) -> PriorRegions:
        """The priors of a backbone batch (see :func:`regions_for_batch`)
        on ``device``."""
        return PriorRegions(
            *(value.to(device)
              for value in regions_for_batch(self.regions, batch)))

    def select(self, batch: int, grid_thw: Tuple[int, int, int],
               device: torch.device) -> TokenSelection:
        """Selects the batch's first-stage tokens.

        Args:
            batch (int): Backbone batch size (a multiple of the samples,
                see :func:`regions_for_batch`).
            grid_thw (tuple[int, int, int]): First-stage grid.
            device (torch.device): Device of the tokens.

        Returns:
            TokenSelection: See :func:`select_prior_tokens`.
        """
        regions = self.priors(batch, device)
        return select_prior_tokens(regions.boxes, regions.types,
                                   regions.scores, regions.valid,
                                   regions.num_frames, self.input_hw, grid_thw,
                                   self.neck.max_tokens,
                                   self.neck.type_priority)

    def modulate(
            self, index: int, tokens: torch.Tensor, thw: Tuple[int, int, int],
            stage0_tokens: torch.Tensor, stage0_thw: Tuple[int, int, int],
            selection: TokenSelection) -> Tuple[torch.Tensor, torch.Tensor]:
        """Modulates the output of block ``index``: see
        :meth:`TopDownModulation.modulate`."""
        return self.neck.modulate(index, tokens, thw, stage0_tokens,
                                  stage0_thw, selection)


@MODELS.register_module()
class TopDownModulation(BaseNeck):
    """Gated deep-to-shallow attention over prior-selected unpooled tokens.

    After each backbone block in ``block_indices`` the block's tokens query
    up to ``max_tokens`` first-stage tokens (unpooled patch embeddings)
    whose cells overlap the sample's prior regions: boxes of ``box_types``
    and windows around ``keypoint_indices``. The selected tokens get a
    learned region-type embedding and a learned embedding of their
    normalised ``(t, y, x)`` position (Fourier features, so any input size
    works). The attention output is added through a zero-initialised gate,
    so at initialisation the backbone computes exactly what it computes
    without this module; a sample without priors is left unchanged.

    With ``loss_attn`` set, :meth:`loss` supervises the attention
    (averaged over heads and queries) towards a heatmap target over the
    selected tokens (:meth:`attention_target`; explicit variant); without
    it the module learns from the task loss alone (implicit variant). With
    ``structure_head`` set, an auxiliary head on the selected tokens
    learns to predict the priors' keypoint heatmaps (and 3D poses), which
    trains the first-stage features the deep blocks look back at. Both
    losses can be used alone or together; whenever a batch has a target,
    :meth:`loss` also returns the attention's entropy and its mass on the
    target's top tokens for the log.

    See the module docstring for how a model drives it.

    Args:
        stage0_channels (int): Channels of the first-stage tokens.
        block_indices (Sequence[int]): Backbone blocks to modulate (after
            the block runs), each once. A modulation after the last block
            changes the output map but not the class token, so a head
            reading the class token gives it no gradient.
        block_channels (Sequence[int]): Channels of those blocks' outputs.
        embed_dims (int): Attention channels. Defaults to 128.
        num_heads (int): Attention heads. Defaults to 2.
        max_tokens (int): Token budget per sample. Defaults to 256.
        query_mode (str): ``'all'``, ``'pooled'`` or ``'cls'`` (see
            :class:`PriorCrossAttention`). Defaults to ``'all'``.
        query_pool_stride (Sequence[int]): ``(t, h, w)`` stride of pooled
            queries. Defaults to ``(1, 2, 2)``.
        box_types (Sequence[int]): Prior box types to select (0 person,
            1 hand, 2 face, 3 object). Defaults to ``(1, 2, 3)``.
        keypoint_indices (Sequence[int]): Keypoints (index into the
            layout) that get a window. Defaults to ``()``.
        keypoint_window (float): Side of a keypoint window in input pixels.
            Defaults to 16.
        keypoint_score_thr (float): Minimum score of a keypoint.
            Defaults to 0.3.
        type_priority (Sequence[float]): Priority of person, hand, face,
            object and keypoint regions when the budget is exceeded (types
            whose priorities differ by 0.5 or more never mix; within a type
            the region score decides). Defaults to ``(0, 3, 2, 1, 3)``.
        pos_frequencies (int): Fourier frequencies of the position
            embedding. Defaults to 8.
        loss_attn (dict, optional): Attention supervision loss config,
            e.g. ``dict(type='AttentionKLLoss', loss_weight=0.1)``.
            Defaults to None (implicit).
        target_type_weights (Sequence[float]): Weight of the person, hand,
            face, object and keypoint regions in the attention target.
            Defaults to ``(0, 1, 1, 0.5, 1)``.
        target_sigma (float): Standard deviation of a region's Gaussian in
            the attention target, as a fraction of its width and height.
            Defaults to 0.25.
        target_temperature (float): Temperature of the attention target:
            the heat is raised to ``1 / target_temperature``, so below 1
            the target is sharper than the heatmap. Defaults to 0.5.
        structure_head (dict, optional): Config of the auxiliary head on
            the selected tokens, e.g. ``dict(type='PriorStructureHead',
            keypoint_indices=(1, 2, 3, 4, 5), loss_weight=0.1)``
            (``in_channels`` is ``stage0_channels``). Defaults to None.
        prior_jitter (float): Degrades the priors for studies of prior
            quality: every region moves by Gaussian noise of this standard
            deviation times its width and height. Defaults to 0.
        prior_drop (float): Degrades the priors: each region is dropped
            with this probability. Defaults to 0.
        init_cfg (dict, optional): mmengine init config. Defaults to None.

    Examples:
        >>> neck = TopDownModulation(
        ...     stage0_channels=96, block_indices=(5, 9, 13),
        ...     block_channels=(384, 384, 384))  # MViTv2-S stage 3
        >>> neck.check_backbone(backbone)  # once
        >>> context = neck.make_context(data_samples, inputs.shape)
        >>> feats, modulation = backbone(inputs, context)
        >>> losses = neck.loss(modulation)
    """

    def __init__(self,
                 stage0_channels: int,
                 block_indices: Sequence[int],
                 block_channels: Sequence[int],
                 embed_dims: int = 128,
                 num_heads: int = 2,
                 max_tokens: int = 256,
                 query_mode: str = 'all',
                 query_pool_stride: Sequence[int] = (1, 2, 2),
                 box_types: Sequence[int] = (HAND, FACE, OBJECT),
                 keypoint_indices: Sequence[int] = (),
                 keypoint_window: float = 16.,
                 keypoint_score_thr: float = 0.3,
                 type_priority: Sequence[float] = (0., 3., 2., 1., 3.),
                 pos_frequencies: int = 8,
                 loss_attn: Optional[dict] = None,
                 target_type_weights: Sequence[float] = (0., 1., 1., .5, 1.),
                 target_sigma: float = 0.25,
                 target_temperature: float = 0.5,
                 structure_head: Optional[dict] = None,
                 prior_jitter: float = 0.,
                 prior_drop: float = 0.,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if len(block_indices) != len(block_channels):
            raise ValueError('block_indices and block_channels differ in '
                             f'length: {block_indices} vs {block_channels}')
        if len(set(block_indices)) != len(block_indices):
            raise ValueError(f'block_indices repeats a block: {block_indices}')
        num_types = len(REGION_TYPE_NAMES)
        if len(type_priority) != num_types or len(
                target_type_weights) != num_types:
            raise ValueError(
                f'type_priority and target_type_weights need {num_types} '
                f'entries ({", ".join(REGION_TYPE_NAMES)})')
        if target_sigma <= 0 or target_temperature <= 0:
            raise ValueError('target_sigma and target_temperature must be '
                             f'positive, got {target_sigma} and '
                             f'{target_temperature}')
        self.stage0_channels = stage0_channels
        self.block_indices = tuple(block_indices)
        self.block_channels = tuple(block_channels)
        self.max_tokens = max_tokens
        self.box_types = tuple(box_types)
        self.keypoint_indices = tuple(keypoint_indices)
        self.keypoint_window = keypoint_window
        self.keypoint_score_thr = keypoint_score_thr
        self.pos_frequencies = pos_frequencies
        self.target_sigma = target_sigma
        self.target_temperature = target_temperature
        self.prior_jitter = prior_jitter
        self.prior_drop = prior_drop
        self.register_buffer(
            'type_priority',
            torch.tensor(type_priority, dtype=torch.float),
            persistent=False)
        self.register_buffer(
            'target_type_weights',
            torch.tensor(target_type_weights, dtype=torch.float),
            persistent=False)
        self.type_embed = nn.Embedding(num_types, stage0_channels)
        self.pos_embed = nn.Linear(6 * pos_frequencies, stage0_channels)
        self.key_norm = nn.LayerNorm(stage0_channels)
        self.attns = nn.ModuleList(
            PriorCrossAttention(
                channels, stage0_channels, embed_dims, num_heads, query_mode,
                tuple(query_pool_stride)) for channels in block_channels)
        self.loss_attn = None if loss_attn is None else MODELS.build(loss_attn)
        self.structure_head = None if structure_head is None else MODELS.build(
            dict(structure_head, in_channels=stage0_channels))

    def check_backbone(self, backbone: nn.Module) -> None:
        """Checks ``stage0_channels``, ``block_indices`` and
        ``block_channels`` against ``backbone``.

        Args:
            backbone (nn.Module): A backbone with ``embed_dims`` (channels
                per stage) and ``block_dims`` (output channels per block),
                such as :class:`~mvitx.models.backbones.MViT`.

        Raises:
            TypeError: If the backbone lacks ``embed_dims`` or
                ``block_dims``.
            ValueError: If a size differs, naming the block and both sizes.
        """
        name = type(self).__name__
        if not hasattr(backbone, 'embed_dims') or not hasattr(
                backbone, 'block_dims'):
            raise TypeError(f'{name} needs a backbone with embed_dims and '
                            'block_dims (e.g. MViT), got '
                            f'{type(backbone).__name__}')
        if backbone.embed_dims[0] != self.stage0_channels:
            raise ValueError(
                f'{name}: stage0_channels is {self.stage0_channels}, but the '
                f'backbone\'s first-stage tokens have '
                f'{backbone.embed_dims[0]} channels')
        num_blocks = len(backbone.block_dims)
        for index, channels in zip(self.block_indices, self.block_channels):
            if not 0 <= index < num_blocks:
                raise ValueError(f'{name}: block_indices has block {index}, '
                                 f'but the backbone has blocks 0 to '
                                 f'{num_blocks - 1}')
            if backbone.block_dims[index] != channels:
                raise ValueError(
                    f'{name}: block {index} of the backbone outputs '
                    f'{backbone.block_dims[index]} channels, but '
                    f'block_channels gives {channels} for it')

    def make_context(
        self,
        data_samples: Optional[list],
        input_shape: Optional[Sequence[int]] = None
    ) -> Optional[ModulationContext]:
        """Turns a batch's priors into its modulation context.

        Args:
            data_samples (list[ActionDataSample], optional): The batch;
                samples without ``priors`` are not modulated.
            input_shape (Sequence[int], optional): Shape of the backbone
                input; its last two entries are the input ``(H, W)`` the
                prior boxes refer to. Defaults to None (each sample's
                ``img_shape`` metainfo, which must agree).

        Returns:
            ModulationContext: The context, or None when ``data_samples``
            is None or empty (the backbone then runs plain).
        """
        if not data_samples:
            return None
        if input_shape is not None:
            input_hw = tuple(int(s) for s in input_shape[-2:])
        else:
            shapes = {tuple(s.metainfo['img_shape']) for s in data_samples}
            if len(shapes) != 1:
                raise ValueError(f'samples of one batch have different '
                                 f'img_shape {sorted(shapes)}')
            input_hw = tuple(int(s) for s in shapes.pop())
        regions = [self._sample_priors(s) for s in data_samples]
        return ModulationContext(self, self._degrade(_pad_regions(regions)),
                                 input_hw)

    def _sample_priors(self, sample) -> Dict[str, torch.Tensor]:
        """One sample's regions (:func:`priors_to_regions`) and structure
        keypoints (:func:`priors_to_keypoints`); zero frames for a sample
        without priors."""
        head = self.structure_head
        joints = head.keypoint_indices if head is not None else ()
        joints3d = head.num_keypoints3d if head is not None else 0
        if 'priors' not in sample:
            return dict(
                boxes=torch.zeros(0, 0, 4),
                types=torch.zeros(0, 0, dtype=torch.long),
                scores=torch.zeros(0, 0),
                valid=torch.zeros(0, 0, dtype=torch.bool),
                keypoints=torch.zeros(0, 0, len(joints), 3),
                keypoints3d=torch.zeros(0, 0, joints3d, 4))
        regions = priors_to_regions(sample.priors, self.box_types,
                                    self.keypoint_indices,
                                    self.keypoint_window,
                                    self.keypoint_score_thr)
        regions.update(priors_to_keypoints(sample.priors, joints, joints3d))
        return regions

    def _degrade(self, regions: PriorRegions) -> PriorRegions:
        """Applies ``prior_jitter`` and ``prior_drop`` (torch's global
        random generator, so seeded runs repeat)."""
        if self.prior_jitter > 0:
            boxes = regions.boxes
            size = (boxes[..., 2:] - boxes[..., :2]).repeat(1, 1, 1, 2)
            shift = torch.randn_like(boxes[..., :2]).repeat(1, 1, 1, 2)
            regions = regions._replace(boxes=boxes +
                                       shift * size * self.prior_jitter)
        if self.prior_drop > 0:
            keep = torch.rand_like(regions.scores) >= self.prior_drop
            regions = regions._replace(valid=regions.valid & keep)
        return regions

    def _position_embedding(self, index: torch.Tensor,
                            grid_thw: Tuple[int, int, int]) -> torch.Tensor:
        coords = token_positions(index, grid_thw)
        size = coords.new_tensor(grid_thw)
        coords = (coords + 0.5) / size  # (N, K, 3) in (0, 1)
        freqs = 2.**torch.arange(self.pos_frequencies, device=index.device)
        angles = (coords[..., None] * freqs * math.pi).flatten(-2)
        feats = torch.cat([angles.sin(), angles.cos()], -1)
        return self.pos_embed(feats.to(self.pos_embed.weight.dtype))

    @staticmethod
    def _selected_tokens(stage0_tokens: torch.Tensor,
                         selection: TokenSelection) -> torch.Tensor:
        """``(N, K, C0)`` first-stage tokens of the selection."""
        return stage0_tokens.gather(
            1, selection.index[..., None].expand(-1, -1,
                                                 stage0_tokens.shape[-1]))

    def modulate(
            self, index: int, tokens: torch.Tensor, thw: Tuple[int, int, int],
            stage0_tokens: torch.Tensor, stage0_thw: Tuple[int, int, int],
            selection: TokenSelection) -> Tuple[torch.Tensor, torch.Tensor]:
        """Modulates the output tokens of block ``index``.

        Args:
            index (int): The block, one of ``block_indices``.
            tokens (Tensor): ``(N, T*H*W, C)`` block output without cls
                token.
            thw (tuple[int, int, int]): Its grid.
            stage0_tokens (Tensor): ``(N, T0*H0*W0, C0)`` unpooled
                first-stage tokens.
            stage0_thw (tuple[int, int, int]): Their grid.
            selection (TokenSelection): The batch's selected first-stage
                tokens (``K`` per sample).

        Returns:
            tuple[Tensor, Tensor]: The modulated tokens (same shape as
            ``tokens``) and the attention over the selected tokens,
            averaged over heads and queries, ``(N, K)``.
        """
        if selection.index.shape[1] == 0:
            if torch.is_grad_enabled():
                tokens = tokens + parameters_zero(self, tokens)
            return tokens, tokens.new_zeros(tokens.shape[0], 0)
        keys = self.key_norm(
            self._selected_tokens(stage0_tokens, selection) +
            self.type_embed(selection.types) +
            self._position_embedding(selection.index, tuple(stage0_thw)))
        attn = self.attns[self.block_indices.index(index)]
        return attn(tokens, tuple(thw), keys, selection.valid)

    def forward(self, feats: tuple, data_samples: Optional[list] = None):
        """Identity: the modulation happens inside the backbone.

        Args:
            feats (tuple): Backbone outputs.
            data_samples (list, optional): Unused. Defaults to None.

        Returns:
            tuple: ``feats``.
        """
        return feats

    def attention_target(
            self,
            modulation: Optional[ModulationOutput]) -> Optional[torch.Tensor]:
        """The attention target over the selected tokens: a heatmap of the
        prior regions, sharpened by ``target_temperature``.

        Every region of the context (a box of ``box_types`` or a keypoint
        window) is a Gaussian at its centre with standard deviations
        ``target_sigma`` times its width and height, weighted by
        ``target_type_weights`` of its type. A token's heat is the mass of
        these Gaussians on its cell, summed over the frames of its temporal
        cell (:func:`~.prior_heatmaps.gaussian_token_mass`); the target is
        ``(heat / max heat) ** (1 / target_temperature)``, normalised over
        the sample's selected tokens. Small regions (keypoint windows,
        hands) thus concentrate the target on a few tokens at their
        centres, where a type-weighted uniform target would spread it over
        every selected token.

        Args:
            modulation (ModulationOutput, optional): What the backbone
                returned with this neck's context.

        Returns:
            Tensor: ``(N, K)`` float, rows summing to one (zero rows for
            samples without target), or None without a context or without
            selected tokens.
        """
        if modulation is None or modulation.selection.index.shape[1] == 0:
            return None
        sel, grid = modulation.selection, modulation.stage0_thw
        input_hw = modulation.context.input_hw
        regions = modulation.context.priors(sel.index.shape[0],
                                            sel.index.device)
        boxes = regions.boxes.float()
        sizes = boxes[..., 2:] - boxes[..., :2]
        weights = self.target_type_weights[regions.types] * (
            regions.valid & (sizes > 0).all(-1))
        heat = gaussian_token_mass(
            (boxes[..., :2] + boxes[..., 2:]) / 2,
            (sizes * self.target_sigma).clamp(min=1e-3), weights,
            frame_cells(regions.num_frames, boxes.shape[1], grid[0]),
            token_positions(sel.index, grid),
            (input_hw[0] / grid[1], input_hw[1] / grid[2])).sum(1)
        heat = heat * sel.valid
        # Dividing by the peak first keeps the power from underflowing.
        peak = heat.amax(1, keepdim=True).clamp(min=torch.finfo().tiny)
        sharp = (heat / peak)**(1 / self.target_temperature)
        return sharp / sharp.sum(1, keepdim=True).clamp(min=1e-12)

    def loss(
            self,
            modulation: Optional[ModulationOutput]) -> Dict[str, torch.Tensor]:
        """The neck's losses of one forward, and attention statistics.

        Args:
            modulation (ModulationOutput, optional): What the backbone
                returned with this neck's context (None without one).

        Returns:
            dict: With ``loss_attn``, ``loss_topdown_attn``: the attention
            loss against :meth:`attention_target`, averaged over the
            modulated blocks. With ``structure_head``, its losses
            (``loss_topdown_struct``, ``loss_topdown_struct3d``). A loss
            without target in the batch is a zero that reaches every
            parameter, so every process logs the same keys and reduces
            every gradient. When some sample has a target, also (logged,
            not summed into the loss, since their names lack ``loss``):
            ``topdown/target_entropy`` and ``topdown/uniform_entropy``
            (the target's entropy and the log of the selected token
            count, nats, averaged over those samples) and, per modulated
            block ``i``, ``topdown/attn_entropy/block<i>`` and
            ``topdown/attn_top_mass/block<i>`` (the attention mass on the
            fewest tokens that hold half of the target, see
            :func:`top_tokens`).
        """
        target = self.attention_target(modulation)
        losses = {}
        if self.loss_attn is not None:
            if target is None or not modulation.attention:
                losses['loss_topdown_attn'] = parameters_zero(
                    self, self.type_embed.weight)
            else:
                losses['loss_topdown_attn'] = torch.stack([
                    self.loss_attn(attn, target)
                    for attn in modulation.attention.values()
                ]).mean()
        if self.structure_head is not None:
            losses.update(self._structure_loss(modulation))
        if target is not None:
            losses.update(
                self._attention_statistics(modulation.attention, target,
                                           modulation.selection.valid))
        return losses

    def _structure_loss(
            self,
            modulation: Optional[ModulationOutput]) -> Dict[str, torch.Tensor]:
        """The structure head's losses on the selected first-stage tokens
        of one forward."""
        head = self.structure_head
        if modulation is None:
            zero = parameters_zero(self, self.type_embed.weight)
            return {key: zero for key in head.loss_keys}
        sel, grid = modulation.selection, modulation.stage0_thw
        priors = modulation.context.priors(sel.index.shape[0],
                                           sel.index.device)
        return head.loss(
            self._selected_tokens(modulation.stage0_tokens, sel),
            token_positions(sel.index, grid), sel.valid, priors.keypoints,
            priors.keypoints3d, priors.num_frames, grid,
            modulation.context.input_hw)

    @staticmethod
    @torch.no_grad()
    def _attention_statistics(attention: Dict[int, torch.Tensor],
                              target: torch.Tensor,
                              valid: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Entropies and top-token mass (see :meth:`loss`) over the samples
        with a target; empty when none has one."""
        has_target = target.sum(1) > 0
        if not bool(has_target.any()):
            return {}
        target = target[has_target]
        top = top_tokens(target)
        stats = {
            'topdown/target_entropy':
            attention_entropy(target).mean(),
            'topdown/uniform_entropy':
            valid[has_target].sum(1).float().log().mean()
        }
        for index, attn in attention.items():
            attn = attn[has_target].float()
            stats[f'topdown/attn_entropy/block{index}'] = attention_entropy(
                attn).mean()
            stats[f'topdown/attn_top_mass/block{index}'] = (attn *
                                                            top).sum(1).mean()
        return stats

    @staticmethod
    def attention_maps(
            modulation: Optional[ModulationOutput]) -> Dict[int, torch.Tensor]:
        """One forward's attention (averaged over heads and queries)
        scattered back to the first-stage grid.

        Args:
            modulation (ModulationOutput, optional): What the backbone
                returned with this neck's context.

        Returns:
            dict[int, Tensor]: Block index to ``(N, T0, H0, W0)`` maps (zero
            outside the selected tokens); empty without a context or
            without selected tokens.
        """
        if modulation is None or modulation.selection.index.shape[1] == 0:
            return {}
        sel, grid = modulation.selection, modulation.stage0_thw
        maps = {}
        for index, attn in modulation.attention.items():
            flat = attn.new_zeros(sel.index.shape[0], math.prod(grid))
            flat.scatter_add_(1, sel.index, attn * sel.valid)
            maps[index] = flat.view(-1, *grid)
        return maps


def _pad_regions(regions: List[Dict[str, torch.Tensor]]) -> PriorRegions:
    """Stacks per-sample priors (dicts of ``(F, X, ...)`` tensors, ``F = 0``
    for samples without priors), padding frames and the second dimension
    (regions, persons) with zeros."""
    with_frames = [r for r in regions if r['boxes'].shape[0]]
    device = (
        with_frames[0]['boxes'].device if with_frames else torch.device('cpu'))
    stacked = {}
    for key in regions[0]:
        values = [r[key].to(device) for r in regions]
        size = [max(v.shape[dim] for v in values) for dim in (0, 1)]
        out = values[0].new_zeros((len(values), *size, *values[0].shape[2:]))
        for i, value in enumerate(values):
            out[i, :value.shape[0], :value.shape[1]] = value
        stacked[key] = out
    num_frames = torch.tensor([r['boxes'].shape[0] for r in regions],
                              device=device)
    return PriorRegions(num_frames=num_frames, **stacked)
