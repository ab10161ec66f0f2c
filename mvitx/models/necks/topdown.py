"""Top-down modulation: deep backbone tokens look back at the unpooled
first-stage tokens inside prior regions (hands, faces, objects, windows
around keypoints) and modulate the later blocks through gated residuals.

The module is the recognizer's ``neck`` (:class:`BaseNeck` protocol). It
does its work inside the backbone, through the backbone's block-modulator
hook:

1. ``neck.attach(backbone)`` once after building (registers one modulator
   per ``block_indices`` entry with
   ``backbone.register_block_modulator(index, modulator)``);
2. ``neck.set_context(data_samples, inputs.shape)`` before every backbone
   forward (hands the batch's priors to the modulators; ``data_samples``
   of ``None`` switches the module off for that forward);
3. ``feats = neck(feats, data_samples)`` after the backbone: identity, the
   features were modulated inside the backbone;
4. in ``'loss'`` mode ``losses.update(neck.loss())``: the attention
   supervision loss (an empty dict for the implicit variant).
"""
import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from mvitx.registry import MODELS
from .base_neck import BaseNeck

#: Region type ids: box types of the prior store plus keypoint windows.
PERSON, HAND, FACE, OBJECT, KEYPOINT = range(5)
REGION_TYPE_NAMES = ('person', 'hand', 'face', 'object', 'keypoint')


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
            ``REGION_TYPE_NAMES``).
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
    # Frames to temporal cells; padded frames map past the grid.
    frames = torch.arange(num_f, device=device)
    frame_t = frames * t0 // num_frames.to(device)[:, None].clamp(min=1)
    frame_t = frame_t.masked_fill(frames >= num_frames[:, None], t0)
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
    valid = priors.valid.bool() if 'valid' in priors else types >= 0
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


class _BlockModulator:
    """The callable registered after one backbone block (a plain object,
    so the neck's weights are not registered twice in the state dict)."""

    def __init__(self, neck: 'TopDownModulation', position: int):
        self.neck = neck
        self.position = position

    def __call__(self, tokens, thw, stage0_tokens, stage0_thw):
        return self.neck.modulate(self.position, tokens, thw, stage0_tokens,
                                  stage0_thw)


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
    (averaged over heads and queries) towards a target over the selected
    tokens: each token weighted by ``target_type_weights`` of its region
    type, normalised to sum to one (explicit variant); without it the module
    learns from the task loss alone (implicit variant).

    See the module docstring for how a recognizer drives it.

    Args:
        stage0_channels (int): Channels of the first-stage tokens.
        block_indices (Sequence[int]): Backbone blocks to modulate (after
            the block runs). A modulation after the last block changes the
            output map but not the class token, so a head reading the class
            token gives it no gradient.
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
        target_type_weights (Sequence[float]): Target weight of person,
            hand, face, object and keypoint tokens. Defaults to
            ``(0, 1, 1, 0.5, 1)``.
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
        >>> neck.attach(backbone)            # once
        >>> neck.set_context(data_samples, inputs.shape)  # every forward
        >>> feats = backbone(inputs)
        >>> losses = neck.loss()
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
                 prior_jitter: float = 0.,
                 prior_drop: float = 0.,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if len(block_indices) != len(block_channels):
            raise ValueError('block_indices and block_channels differ in '
                             f'length: {block_indices} vs {block_channels}')
        num_types = len(REGION_TYPE_NAMES)
        if len(type_priority) != num_types or len(
                target_type_weights) != num_types:
            raise ValueError(
                f'type_priority and target_type_weights need {num_types} '
                f'entries ({", ".join(REGION_TYPE_NAMES)})')
        self.block_indices = tuple(block_indices)
        self.max_tokens = max_tokens
        self.box_types = tuple(box_types)
        self.keypoint_indices = tuple(keypoint_indices)
        self.keypoint_window = keypoint_window
        self.keypoint_score_thr = keypoint_score_thr
        self.pos_frequencies = pos_frequencies
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
        self._regions: Optional[Dict[str, torch.Tensor]] = None
        self._input_hw: Optional[Tuple[int, int]] = None
        # ((batch, first-stage grid), TokenSelection) of the last forward.
        self._cache: Optional[tuple] = None
        self.attention: Dict[int, torch.Tensor] = {}

    def attach(self, backbone: nn.Module) -> None:
        """Registers one modulator per ``block_indices`` entry on
        ``backbone`` (needs ``backbone.register_block_modulator``)."""
        for position, index in enumerate(self.block_indices):
            backbone.register_block_modulator(index,
                                              _BlockModulator(self, position))

    def set_context(self,
                    data_samples: Optional[list],
                    input_shape: Optional[Sequence[int]] = None) -> None:
        """Hands the priors of the next forward's batch to the modulators.

        Args:
            data_samples (list[ActionDataSample], optional): The batch;
                samples without ``priors`` (or ``None`` for the whole batch)
                are not modulated.
            input_shape (Sequence[int], optional): Shape of the backbone
                input; its last two entries are the input ``(H, W)`` the
                prior boxes refer to. Defaults to None (each sample's
                ``img_shape`` metainfo, which must agree).
        """
        self._cache = None
        self.attention = {}
        self._regions = None
        if not data_samples:
            return
        if input_shape is not None:
            self._input_hw = tuple(int(s) for s in input_shape[-2:])
        else:
            shapes = {tuple(s.metainfo['img_shape']) for s in data_samples}
            if len(shapes) != 1:
                raise ValueError(f'samples of one batch have different '
                                 f'img_shape {sorted(shapes)}')
            self._input_hw = tuple(int(s) for s in shapes.pop())
        regions = [
            priors_to_regions(s.priors, self.box_types, self.keypoint_indices,
                              self.keypoint_window, self.keypoint_score_thr)
            if 'priors' in s else None for s in data_samples
        ]
        self._regions = self._degrade(_pad_regions(regions))

    def _degrade(self, regions: Dict[str,
                                     torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Applies ``prior_jitter`` and ``prior_drop`` (torch's global
        random generator, so seeded runs repeat)."""
        if self.prior_jitter > 0:
            boxes = regions['boxes']
            size = (boxes[..., 2:] - boxes[..., :2]).repeat(1, 1, 1, 2)
            shift = torch.randn_like(boxes[..., :2]).repeat(1, 1, 1, 2)
            regions['boxes'] = boxes + shift * size * self.prior_jitter
        if self.prior_drop > 0:
            keep = torch.rand_like(regions['scores']) >= self.prior_drop
            regions['valid'] = regions['valid'] & keep
        return regions

    def _batch_regions(self, batch: int) -> Dict[str, torch.Tensor]:
        """The context's regions for a backbone batch of ``batch`` inputs:
        multi-view batches (``V`` views per sample) split each sample's
        prior frames into ``V`` equal clips (multi-clip test), or repeat
        them when they do not split (multi-crop test)."""
        regions = self._regions
        n = regions['num_frames'].shape[0]
        if batch == n:
            return regions
        if batch % n:
            raise ValueError(f'backbone batch {batch} is not a multiple of '
                             f'the {n} samples given to set_context')
        views = batch // n
        frames = regions['boxes'].shape[1]
        num_frames = regions['num_frames']
        # Samples without priors have no frames; the others all have F.
        uneven = (num_frames != frames) & (num_frames != 0)
        if frames % views or bool(uneven.any()):
            return {
                key: value.repeat_interleave(views, 0)
                for key, value in regions.items()
            }
        out = {
            key: value.unflatten(1, (views, -1)).flatten(0, 1)
            for key, value in regions.items() if key != 'num_frames'
        }
        out['num_frames'] = (num_frames // views).repeat_interleave(views)
        return out

    def select(self, batch: int, grid_thw: Tuple[int, int, int],
               device: torch.device) -> TokenSelection:
        """Selects the first-stage tokens of the current context.

        Args:
            batch (int): Backbone batch size.
            grid_thw (tuple[int, int, int]): First-stage grid.
            device (torch.device): Device of the tokens.

        Returns:
            TokenSelection: See :func:`select_prior_tokens`.
        """
        regions = {
            key: value.to(device)
            for key, value in self._batch_regions(batch).items()
        }
        return select_prior_tokens(regions['boxes'], regions['types'],
                                   regions['scores'], regions['valid'],
                                   regions['num_frames'], self._input_hw,
                                   grid_thw, self.max_tokens,
                                   self.type_priority)

    def _position_embedding(self, index: torch.Tensor,
                            grid_thw: Tuple[int, int, int]) -> torch.Tensor:
        t0, h0, w0 = grid_thw
        coords = torch.stack(
            [index // (h0 * w0), index // w0 % h0, index % w0], -1)
        size = coords.new_tensor(grid_thw)
        coords = (coords + 0.5) / size  # (N, K, 3) in (0, 1)
        freqs = 2.**torch.arange(self.pos_frequencies, device=index.device)
        angles = (coords[..., None] * freqs * math.pi).flatten(-2)
        feats = torch.cat([angles.sin(), angles.cos()], -1)
        return self.pos_embed(feats.to(self.pos_embed.weight.dtype))

    def _selection(self, stage0_tokens: torch.Tensor,
                   stage0_thw: Tuple[int, int, int]) -> TokenSelection:
        """The selection of the current forward, computed once (it does not
        depend on the token values, so recomputation under gradient
        checkpointing reuses it)."""
        key = (stage0_tokens.shape[0], tuple(stage0_thw))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key,
                           self.select(key[0], key[1], stage0_tokens.device))
        return self._cache[1]

    def _zero(self, like: torch.Tensor) -> torch.Tensor:
        """A zero that depends on every parameter, so that distributed
        training sees gradients (zeros) for all of them in batches without
        priors."""
        zero = sum(p.flatten()[0] for p in self.parameters()) * 0
        return zero.to(like.dtype)

    def modulate(self, position: int, tokens: torch.Tensor,
                 thw: Tuple[int, int, int], stage0_tokens: torch.Tensor,
                 stage0_thw: Tuple[int, int, int]) -> torch.Tensor:
        """Modulates the output tokens of block ``block_indices[position]``.

        Args:
            position (int): Position in ``block_indices``.
            tokens (Tensor): ``(N, T*H*W, C)`` block output without cls
                token.
            thw (tuple[int, int, int]): Its grid.
            stage0_tokens (Tensor): ``(N, T0*H0*W0, C0)`` unpooled
                first-stage tokens.
            stage0_thw (tuple[int, int, int]): Their grid.

        Returns:
            Tensor: The modulated tokens, same shape as ``tokens``.
        """
        sel = None
        if self._regions is not None:
            sel = self._selection(stage0_tokens, stage0_thw)
        if sel is None or sel.index.shape[1] == 0:
            return tokens + self._zero(tokens) if (
                torch.is_grad_enabled()) else tokens
        picked = stage0_tokens.gather(
            1, sel.index[..., None].expand(-1, -1, stage0_tokens.shape[-1]))
        keys = self.key_norm(
            picked + self.type_embed(sel.types) +
            self._position_embedding(sel.index, tuple(stage0_thw)))
        tokens, attn = self.attns[position](tokens, tuple(thw), keys,
                                            sel.valid)
        self.attention[self.block_indices[position]] = attn
        return tokens

    def forward(self, feats: tuple, data_samples: Optional[list] = None):
        """Identity: the modulation happens inside the backbone.

        Args:
            feats (tuple): Backbone outputs.
            data_samples (list, optional): Unused. Defaults to None.

        Returns:
            tuple: ``feats``.
        """
        return feats

    def attention_target(self) -> Optional[torch.Tensor]:
        """``(N, K)`` supervision target over the last forward's selected
        tokens (rows sum to one, or zero for samples without target), or
        None when nothing was selected."""
        if self._cache is None or self._cache[1].index.shape[1] == 0:
            return None
        sel = self._cache[1]
        weights = self.target_type_weights[sel.types] * sel.valid
        return weights / weights.sum(1, keepdim=True).clamp(min=1e-12)

    def loss(self) -> Dict[str, torch.Tensor]:
        """Attention supervision loss of the last forward.

        Returns:
            dict: ``loss_topdown_attn`` (mean over the modulated blocks; a
            zero for batches without selected tokens, so every process
            logs the same keys), or an empty dict for the implicit variant.
        """
        if self.loss_attn is None:
            return {}
        target = self.attention_target()
        if target is None or not self.attention:
            return dict(loss_topdown_attn=self._zero(self.type_embed.weight))
        losses = [
            self.loss_attn(attn, target) for attn in self.attention.values()
        ]
        return dict(loss_topdown_attn=torch.stack(losses).mean())

    def attention_maps(self) -> Dict[int, torch.Tensor]:
        """The last forward's attention (averaged over heads and queries)
        scattered back to the first-stage grid.

        Returns:
            dict[int, Tensor]: Block index to ``(N, T0, H0, W0)`` maps (zero
            outside the selected tokens).
        """
        if self._cache is None:
            return {}
        (n, grid), sel = self._cache
        maps = {}
        for index, attn in self.attention.items():
            flat = attn.new_zeros(n, math.prod(grid))
            flat.scatter_add_(1, sel.index, attn * sel.valid)
            maps[index] = flat.view(n, *grid)
        return maps


def _pad_regions(
    regions: List[Optional[Dict[str,
                                torch.Tensor]]]) -> Dict[str, torch.Tensor]:
    """Stacks per-sample regions, padding frames and regions (samples
    without priors get zero frames)."""
    present = [r for r in regions if r is not None]
    num_f = max([r['boxes'].shape[0] for r in present], default=0)
    num_r = max([r['boxes'].shape[1] for r in present], default=0)
    device = present[0]['boxes'].device if present else None
    n = len(regions)
    out = dict(
        boxes=torch.zeros(n, num_f, num_r, 4, device=device),
        types=torch.zeros(n, num_f, num_r, dtype=torch.long, device=device),
        scores=torch.zeros(n, num_f, num_r, device=device),
        valid=torch.zeros(n, num_f, num_r, dtype=torch.bool, device=device))
    num_frames = torch.zeros(n, dtype=torch.long, device=device)
    for i, region in enumerate(regions):
        if region is None:
            continue
        f, r = region['boxes'].shape[:2]
        num_frames[i] = f
        for key in out:
            out[key][i, :f, :r] = region[key]
    out['num_frames'] = num_frames
    return out
