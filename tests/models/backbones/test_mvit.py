"""The MViT backbone: any input size, images and videos through one set of
weights, stage outputs, modulation contexts, attention paths, param
counts."""
import pytest
import torch
import torch.nn as nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from mvitx.models.backbones import MViT
from mvitx.models.backbones.mvit import AvgPool3d
from mvitx.models.necks import ModulationOutput
from mvitx.registry import MODELS


def tiny(**kwargs):
    torch.manual_seed(0)
    model = MViT(arch='xs', input_size=(4, 64, 64), **kwargs)
    model.init_weights()
    return model.eval()


def test_images_and_videos_of_several_sizes_share_weights():
    model = tiny(out_indices=(0, 1))
    assert model.embed_dims == [32, 64] and model.out_channels == [32, 64]
    for shape, grid in (((2, 3, 4, 64, 64), (2, 16, 16)), ((1, 3, 8, 96, 64),
                                                           (4, 24, 16)),
                        ((2, 3, 2, 32, 48), (1, 8, 12)), ((2, 3, 64, 96),
                                                          (1, 16, 24))):
        with torch.no_grad():
            (map0, cls0), (map1, cls1) = model(torch.rand(shape))
        t, h, w = grid
        assert map0.shape == (shape[0], 32, t, h, w)
        assert map1.shape == (shape[0], 64, t, h // 2, w // 2)
        assert cls0.shape == (shape[0], 32) and cls1.shape == (shape[0], 64)
        assert torch.isfinite(map1).all()


def test_image_is_a_one_frame_clip():
    model = tiny()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        image = model(x)[-1]
        clip = model(x[:, :, None])[-1]
    assert torch.equal(image[0], clip[0]) and torch.equal(image[1], clip[1])


@pytest.mark.parametrize('arch', ['xs', 'base'])
def test_image_under_bf16_autocast_matches_fp32(arch):
    # A single frame takes the patch conv's one temporal slice that meets
    # it; the zero-padded conv3d gives NaNs in CPU bfloat16 (oneDNN).
    torch.manual_seed(0)
    model = MViT(arch=arch).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = model(x)[-1][1]
        with torch.autocast('cpu', dtype=torch.bfloat16):
            got = model(x)[-1][1]
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.float(), want, atol=0.1, rtol=0.1)


def test_forward_features_gives_unpooled_stage0_tokens():
    model = tiny()
    x = torch.rand(2, 3, 4, 64, 64)
    with torch.no_grad():
        outs, stage0, stage0_thw, modulation = model.forward_features(x)
        expected, _ = model.embed(x)
        plain = model(x)
    assert modulation is None
    assert stage0_thw == (2, 16, 16)
    assert stage0.shape == (2, 2 * 16 * 16, 32)
    assert torch.equal(stage0, expected)
    assert torch.equal(outs[-1][0], plain[-1][0])


def test_without_cls_token_returns_maps():
    arch = dict(MViT.arch_zoo['xs'], cls_token=False)
    model = MViT(arch=arch).eval()
    out, = model(torch.rand(1, 3, 4, 64, 64))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 64, 2, 8, 8)
    model = tiny(output_cls_token=False)
    out, = model(torch.rand(1, 3, 4, 64, 64))
    assert isinstance(out, torch.Tensor)


class ShiftContext:
    """A modulation context that adds ``scale`` times each sample's mean
    first-stage token value to the outputs of ``block_indices`` and records
    what the backbone hands it."""

    def __init__(self, block_indices, scale=1.0):
        self.block_indices = block_indices
        self.scale = scale
        self.calls = []

    def select(self, batch, grid_thw, device):
        return ('selection', batch, grid_thw, device)

    def modulate(self, index, tokens, thw, stage0_tokens, stage0_thw,
                 selection):
        self.calls.append((index, tokens.shape, thw, stage0_tokens.shape,
                           stage0_thw, selection))
        shift = stage0_tokens.mean((1, 2))[:, None, None]
        return tokens + self.scale * shift, f'attention of block {index}'


def test_modulation_context_api():
    model = tiny()
    x = torch.rand(2, 3, 4, 64, 64)
    context = ShiftContext((3, ))
    with torch.no_grad():
        plain_map, plain_cls = model(x)[-1]
        outs, modulation = model(x, context)
        again_map, again_cls = model(x)[-1]
    mod_map, mod_cls = outs[-1]
    selection = ('selection', 2, (2, 16, 16), x.device)
    assert context.calls == [(3, (2, 2 * 8 * 8, 64), (2, 8, 8), (2, 512, 32),
                              (2, 16, 16), selection)]
    stage0, _ = model.embed(x)
    assert modulation.stage0_thw == (2, 16, 16)
    assert modulation.selection == selection
    assert modulation.attention == {3: 'attention of block 3'}
    assert torch.equal(modulation.stage0_tokens, stage0)
    assert modulation.context is context
    assert isinstance(modulation, ModulationOutput)
    # after the last block: tokens move, the class token does not
    assert torch.equal(mod_cls, plain_cls)
    assert not torch.allclose(mod_map, plain_map)
    # nothing of the context stays on the backbone
    assert torch.equal(again_map, plain_map)
    assert torch.equal(again_cls, plain_cls)
    with pytest.raises(IndexError, match=r'blocks \[4\]'):
        model(x, ShiftContext((2, 4)))


@pytest.mark.parametrize('arch', ['xs', 'v1-b'])
def test_block_dims_are_the_block_output_channels(arch):
    arch = dict(MViT.arch_zoo[arch], depths=(1, 2))
    model = MViT(arch=arch).eval()
    context = ShiftContext(range(3))
    with torch.no_grad():
        model(torch.rand(1, 3, 4, 32, 32), context)
    assert [call[1][-1] for call in context.calls] == model.block_dims
    assert model.block_dims == ([32, 64, 64]
                                if arch['dim_mul_in_att'] else [192, 192, 192])


def test_modulation_gradient_reaches_stage0():
    model = tiny()
    scale = nn.Parameter(torch.tensor(0.5))
    outs, _ = model(torch.rand(1, 3, 4, 64, 64), ShiftContext((2, ), scale))
    # LayerNorm outputs sum to zero: weigh the channels
    (outs[-1][1] * torch.randn(64)).sum().backward()
    assert scale.grad is not None and scale.grad != 0


@pytest.mark.parametrize('arch', ['xs', 'v1-b'])
def test_sdpa_matches_explicit_attention(arch):
    torch.manual_seed(0)
    kwargs = dict(arch=arch, input_size=(4, 64, 64))
    if arch == 'v1-b':
        kwargs['arch'] = dict(MViT.arch_zoo['v1-b'], depths=(1, 2))
    sdpa = MViT(use_sdpa=True, **kwargs)
    sdpa.init_weights()
    plain = MViT(use_sdpa=False, **kwargs)
    plain.load_state_dict(sdpa.state_dict())
    x = torch.rand(2, 3, 8, 48, 64)
    out_a = sdpa(x)[-1][1]
    out_b = plain(x)[-1][1]
    assert (out_a - out_b).abs().max() < 1e-5
    out_a.square().sum().backward()
    out_b.square().sum().backward()
    for (name, pa), pb in zip(sdpa.named_parameters(), plain.parameters()):
        assert (pa.grad - pb.grad).abs().max() < 1e-4, name


def test_relative_positions_run_in_the_flash_kernel():
    # The flash kernel takes no attention bias: the relative positions must
    # reach it folded into the queries and keys, in training too.
    model = MViT(arch='xs', input_size=(4, 64, 64))
    assert model.blocks[0].attn.rel_pos_t is not None
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        out = model(torch.rand(2, 3, 4, 48, 64))[-1][1]
    # LayerNorm outputs sum to zero: weigh the channels
    (out * torch.randn(out.shape[-1])).sum().backward()
    assert model.blocks[0].attn.rel_pos_h.grad.abs().sum() > 0


def test_gradient_checkpointing_same_gradients():
    model = tiny()
    x = torch.rand(2, 3, 4, 64, 64)
    model(x)[-1][1].sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.set_grad_checkpointing(True)
    assert model.with_cp
    model(x)[-1][1].sum().backward()
    for g, p in zip(grads, model.parameters()):
        assert torch.allclose(g, p.grad, atol=1e-6)


def test_drop_path_only_in_training():
    model = tiny(drop_path_rate=0.5)
    assert model.blocks[-1].drop_path.drop_prob == 0.5
    assert model.blocks[0].drop_path.drop_prob == 0.0
    x = torch.rand(8, 3, 2, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x)[-1][1], model(x)[-1][1])
        model.train()
        torch.manual_seed(1)
        first = model(x)[-1][1]
        torch.manual_seed(2)
        second = model(x)[-1][1]
    assert not torch.allclose(first, second)


@pytest.mark.parametrize('mode', ['avg', 'max'])
def test_pool_modes(mode):
    model = tiny(pool_mode=mode)
    attn = model.blocks[2].attn
    assert attn.norm_q is None and isinstance(
        attn.pool_q, AvgPool3d if mode == 'avg' else nn.MaxPool3d)
    out = model(torch.rand(1, 3, 4, 64, 64))[-1][0]
    assert out.shape == (1, 64, 2, 8, 8)
    # one-frame inputs are smaller than the temporal window
    assert model(torch.rand(1, 3, 32, 32))[-1][0].shape == (1, 64, 1, 4, 4)
    with pytest.raises(ValueError):
        tiny(pool_mode='min')


def test_residual_pooling_and_dim_mul_options():
    v2 = MViT(arch='small')
    v1 = MViT(arch='v1-b')
    # MViTv2 changes channels in the attention of the pooling block,
    # MViTv1 in the MLP of the block before
    assert v2.blocks[1].attn.out_dims == 192
    assert v1.blocks[0].attn.out_dims == 96
    assert v1.blocks[0].mlp.fc2.out_features == 192
    assert v2.blocks[0].attn.residual_pool
    assert not v1.blocks[0].attn.residual_pool
    assert v1.blocks[0].attn.pool_q is None
    assert v2.blocks[0].attn.pool_q is not None


def test_layer_ids_and_no_weight_decay():
    model = tiny()
    assert model.num_layers == 4
    assert model.get_layer_id('backbone.patch_embed.proj.weight') == 0
    assert model.get_layer_id('cls_token') == 0
    assert model.get_layer_id('backbone.blocks.2.attn.qkv.weight') == 3
    assert model.get_layer_id('norm.weight') == 5
    names = model.no_weight_decay()
    assert 'cls_token' in names and 'blocks.0.attn.rel_pos_h' in names
    assert 'blocks.0.attn.qkv.weight' not in names
    v1 = MViT(arch='v1-b')
    assert {'pos_embed_spatial', 'pos_embed_temporal',
            'pos_embed_class'} <= v1.no_weight_decay()


# published parameter counts (millions) with the classifier of the
# checkpoint: MViTv2 paper Tables 3/4 (video, 400 classes) and 2 (ImageNet,
# 1000 classes), torchvision docs (mvit_v1_b 36.6M, mvit_v2_s 34.5M)
PUBLISHED = [('small', 400, 34.5), ('base', 400, 51.2), ('v1-b', 400, 36.6),
             ('image-tiny', 1000, 24.2), ('image-small', 1000, 34.9),
             ('image-base', 1000, 51.5), ('image-large', 1000, 218.0)]


@pytest.mark.parametrize('arch,num_classes,millions', PUBLISHED)
def test_parameter_counts(arch, num_classes, millions):
    with torch.device('meta'):
        model = MViT(arch=arch)
    count = sum(p.numel() for p in model.parameters())
    count += (model.out_channels[-1] + 1) * num_classes
    assert round(count / 1e6, 1) == pytest.approx(millions, abs=0.051)


def test_build_from_registry_and_errors():
    model = MODELS.build(dict(type='MViT', arch='xs'))
    assert isinstance(model, MViT)
    with pytest.raises(KeyError, match='Unknown MViT arch'):
        MViT(arch='huge')
    with pytest.raises(KeyError, match='lacks'):
        MViT(arch=dict(embed_dims=8))


def test_stage_q_strides_keep_the_last_stage_at_stride_16():
    """No query pooling into the last stage of 'small': a 14 x 14 grid at
    224 instead of 7 x 7; the k/v grid of that stage stays 7 x 7 (its k/v
    stride is 2), the same as the published model's."""
    strides = ((1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 1, 1))
    with torch.device('meta'):
        published = MViT(arch='small')
        fine = MViT(arch='small', stage_q_strides=strides)
    assert published.out_strides == [(2, 32, 32)]
    assert fine.out_strides == [(2, 16, 16)]
    assert fine.stage_strides == [(2, 4, 4), (2, 8, 8), (2, 16, 16),
                                  (2, 16, 16)]
    last = fine.stage_ends[-2] + 1
    assert fine.blocks[last].attn.pool_q.stride == (1, 1, 1)
    assert fine.blocks[last].pool_skip is None
    assert fine.blocks[last].attn.pool_k.stride == (1, 2, 2)
    assert published.blocks[last].attn.pool_k.stride == (1, 1, 1)
    # Relative positions span the finer query grid after the first block
    # of the stage (whose keys come from the 14 x 14 grid in both).
    assert fine.blocks[-1].attn.rel_pos_h.shape[0] == 2 * 14 - 1
    assert published.blocks[-1].attn.rel_pos_h.shape[0] == 2 * 7 - 1
    # Same weights otherwise.
    assert sum(p.numel() for p in fine.parameters()) - sum(
        p.numel() for p in published.parameters()) == sum(
            2 * (27 - 13) * b.attn.rel_pos_h.shape[1]
            for b in fine.blocks[last + 1:])


def test_stage_q_strides_run_at_any_input():
    torch.manual_seed(0)
    coarse = MViT(arch='xs').eval()
    fine = MViT(arch='xs', stage_q_strides=((1, 1, 1), (1, 1, 1))).eval()
    x = torch.randn(1, 3, 4, 64, 96)
    with torch.no_grad():
        assert coarse(x)[-1][0].shape[2:] == (2, 8, 12)
        assert fine(x)[-1][0].shape[2:] == (2, 16, 24)
        # Temporal pooling too.
        slow = MViT(arch='xs', stage_q_strides=((1, 1, 1), (2, 2, 2)))
        assert slow(x)[-1][0].shape[2:] == (1, 8, 12)
    assert slow.out_strides == [(4, 8, 8)]
    for bad in (((1, 1, 1), ), ((1, 1, 1), (1, 0, 1)), ((1, 1, 1), (2, 2))):
        with pytest.raises(ValueError, match='one .t, h, w. of positive'):
            MViT(arch='xs', stage_q_strides=bad)
