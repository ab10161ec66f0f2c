"""Converted torchvision / timm / mmaction2 / PySlowFast weights reproduce
the reference models (forward and backward)."""
import importlib
import os
import sys
import types
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
import torchvision.models.video.mvit as tv_mvit

from mvitx.models.backbones import MViT
from mvitx.models.backbones import mvit_convert as mc

TOL = 1e-4


def build_torchvision(builder, size):
    """torchvision's ``MViT`` with ``builder``'s settings at ``size``."""
    return mc.build_torchvision_mvit(
        builder.__name__, size, stochastic_depth_prob=0.0).eval()


def randomize_(module):
    """Non-trivial values everywhere (LayerNorm affine included)."""
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0, 0.05).add_(
                1.0 if param.ndim == 1 and param.shape[0] > 1 else 0.0)
    return module


def head_linear(head):
    weight = head['fc.weight']
    fc = nn.Linear(weight.shape[1], weight.shape[0])
    fc.load_state_dict({'weight': weight, 'bias': head['fc.bias']})
    return fc


def assert_close(a, b):
    """Max abs difference <= 1e-4, relative to ``b``'s scale when it is
    above 1 (accumulated parameter gradients)."""
    assert a.shape == b.shape
    diff = (a - b).abs().max().item()
    assert diff <= TOL * max(1.0, b.abs().max().item()), diff


def _replace_param(module, name, value):
    *path, leaf = name.split('.')
    for part in path:
        module = getattr(module, part)
    setattr(module, leaf, nn.Parameter(value.clone()))


@pytest.mark.parametrize('builder,arch', [(tv_mvit.mvit_v2_s, 'small'),
                                          (tv_mvit.mvit_v1_b, 'v1-b')])
def test_torchvision_exact_forward_backward(builder, arch):
    torch.manual_seed(0)
    ref = build_torchvision(builder, (4, 64, 64))
    assert mc.detect_format(ref.state_dict()) == 'torchvision'
    backbone, head = mc.convert_torchvision(ref.state_dict())
    model = MViT(arch=arch, input_size=(4, 64, 64)).eval()
    model.load_state_dict(backbone, strict=True)
    fc = head_linear(head)

    x = torch.randn(2, 3, 4, 64, 64)
    x_ref = x.clone().requires_grad_()
    x_our = x.clone().requires_grad_()
    logits_ref = ref(x_ref)
    logits = fc(model(x_our)[-1][1])
    assert_close(logits, logits_ref)
    logits_ref.square().sum().backward()
    logits.square().sum().backward()
    assert_close(x_our.grad, x_ref.grad)
    assert_close(model.patch_embed.proj.weight.grad, ref.conv_proj.weight.grad)
    assert_close(model.blocks[1].attn.qkv.weight.grad,
                 ref.blocks[1].attn.qkv.weight.grad)


def test_torchvision_v2_other_input_sizes():
    """Weights learnt at 4x64x64 run at other T/H/W: mvitx interpolates the
    relative-position tables like torchvision does at run time."""
    torch.manual_seed(1)
    ref_small = build_torchvision(tv_mvit.mvit_v2_s, (4, 64, 64))
    backbone, head = mc.convert_torchvision(ref_small.state_dict())
    model = MViT(arch='small', input_size=(4, 64, 64)).eval()
    model.load_state_dict(backbone, strict=True)
    fc = head_linear(head)
    for size in ((8, 96, 96), (2, 64, 96)):
        ref = build_torchvision(tv_mvit.mvit_v2_s, size)
        for name, param in ref_small.named_parameters():
            _replace_param(ref, name, param.detach())
        x = torch.randn(1, 3, *size)
        with torch.no_grad():
            assert_close(fc(model(x)[-1][1]), ref(x))


def test_torchvision_v1_other_input_size():
    """MViTv1's separable position embedding is interpolated; torchvision at
    the new size with those embeddings gives the same logits."""
    torch.manual_seed(2)
    ref_small = build_torchvision(tv_mvit.mvit_v1_b, (4, 64, 64))
    backbone, head = mc.convert_torchvision(ref_small.state_dict())
    model = MViT(arch='v1-b', input_size=(4, 64, 64)).eval()
    model.load_state_dict(backbone, strict=True)
    size = (8, 96, 96)
    ref = build_torchvision(tv_mvit.mvit_v1_b, size)
    state = ref_small.state_dict()
    with torch.no_grad():
        grid = model._abs_pos_embed((4, 24, 24))[0].reshape(4, 576, -1)
        temporal = grid[:, 0] - grid[0, 0]
        state['pos_encoding.spatial_pos'] = grid[0]
        state['pos_encoding.temporal_pos'] = temporal
        ref.load_state_dict(state)
        x = torch.randn(1, 3, *size)
        assert_close(head_linear(head)(model(x)[-1][1]), ref(x))


def test_timm_image_exact_forward_backward():
    timm = pytest.importorskip('timm')
    torch.manual_seed(0)
    ref = timm.create_model(
        'mvitv2_tiny', pretrained=False, img_size=64).eval()
    randomize_(ref)
    assert mc.detect_format(ref.state_dict()) == 'timm'
    backbone, head = mc.convert_state_dict(ref.state_dict())
    model = MViT(arch='image-tiny', input_size=(1, 64, 64)).eval()
    model.load_state_dict(backbone, strict=True)
    fc = head_linear(head)
    x = torch.randn(2, 3, 64, 64)
    x_ref = x.clone().requires_grad_()
    x_our = x.clone().requires_grad_()
    logits_ref = ref(x_ref)
    # timm pools the normalised tokens by averaging; so does ClsHead
    logits = fc(model(x_our)[-1].flatten(2).mean(-1))
    assert_close(logits, logits_ref)
    logits_ref.square().sum().backward()
    logits.square().sum().backward()
    assert_close(x_our.grad, x_ref.grad)


@pytest.fixture(scope='module')
def mmaction_mvit():
    """mmaction2's MViT module, imported on its own: the installed
    ``mmaction.models`` package ``__init__`` does not import."""
    import mmaction
    root = os.path.dirname(mmaction.__file__)
    saved = {k: v for k, v in sys.modules.items() if k.startswith('mmaction')}
    for name in ('models', 'models.utils', 'models.backbones'):
        if 'mmaction.' + name in sys.modules:
            continue
        package = types.ModuleType('mmaction.' + name)
        package.__path__ = [os.path.join(root, *name.split('.'))]
        sys.modules['mmaction.' + name] = package
    module = importlib.import_module('mmaction.models.backbones.mvit')
    yield module
    for key in [k for k in sys.modules if k.startswith('mmaction')]:
        if key not in saved:
            del sys.modules[key]


def test_mmaction2_exact(mmaction_mvit):
    torch.manual_seed(0)
    ref = randomize_(
        mmaction_mvit.MViT(arch='small', spatial_size=64,
                           temporal_size=4)).eval()
    state = OrderedDict(
        ('backbone.' + k, v) for k, v in ref.state_dict().items())
    state['cls_head.fc_cls.weight'] = torch.randn(5, 768)
    state['cls_head.fc_cls.bias'] = torch.randn(5)
    assert mc.detect_format(state) == 'mmaction2'
    backbone, head = mc.convert_state_dict(state)
    assert torch.equal(head['fc.weight'], state['cls_head.fc_cls.weight'])
    model = MViT(arch='small', input_size=(4, 64, 64)).eval()
    model.load_state_dict(backbone, strict=True)
    x = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        (ref_map, ref_cls), = ref(x)
        (our_map, our_cls), = model(x)
    assert_close(our_map, ref_map)
    assert_close(our_cls, ref_cls)


def _to_slowfast(state):
    """mvitx weights under PySlowFast names: ``module.`` (DDP) prefix,
    ``head.projection`` and, for one block, separate q/k/v projections."""
    out = OrderedDict()
    for key, value in state.items():
        if key == 'blocks.0.attn.qkv.weight':
            for name, part in zip('qkv', value.chunk(3)):
                out[f'module.blocks.0.attn.{name}.weight'] = part
        elif key == 'blocks.0.attn.qkv.bias':
            for name, part in zip('qkv', value.chunk(3)):
                out[f'module.blocks.0.attn.{name}.bias'] = part
        else:
            out['module.' + key] = value
    out['module.head.projection.weight'] = torch.randn(3, 64)
    out['module.head.projection.bias'] = torch.randn(3)
    return out


def test_slowfast_names():
    torch.manual_seed(0)
    model = randomize_(MViT(arch='xs', input_size=(4, 64, 64))).eval()
    state = _to_slowfast(model.state_dict())
    assert mc.detect_format(state) == 'slowfast'
    backbone, head = mc.convert_state_dict({'model_state':
                                            state}['model_state'])
    assert set(head) == {'fc.weight', 'fc.bias'}
    other = MViT(arch='xs', input_size=(4, 64, 64)).eval()
    other.load_state_dict(backbone, strict=True)
    x = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        assert_close(other(x)[-1][1], model(x)[-1][1])


def test_detect_format_rejects_unknown():
    with pytest.raises(ValueError, match='Unrecognised'):
        mc.detect_format({'features.0.weight': torch.zeros(1)})
    state = MViT(arch='xs').state_dict()
    assert mc.detect_format(state) == 'mvitx'
    assert mc.detect_format({
        'backbone.' + k: v
        for k, v in state.items()
    }) == 'mvitx'


def _image_like_video_arch():
    """The video arch with the image model's kv stride and no class token:
    only the temporal kernels differ from ``image-tiny``."""
    return dict(
        MViT.arch_zoo['tiny'],
        kv_stride=(1, 4, 4),
        cls_token=False,
        residual_with_cls=True)


def test_inflate_center_equals_image_model():
    torch.manual_seed(0)
    image = randomize_(MViT(arch='image-tiny', input_size=(1, 64, 64)))
    video = MViT(arch=_image_like_video_arch(), input_size=(4, 64, 64))
    state = mc.inflate_image_to_video(image.state_dict(), video, 'center')
    assert state['patch_embed.proj.weight'].shape == (96, 3, 3, 7, 7)
    assert torch.count_nonzero(state['blocks.0.attn.rel_pos_t']) == 0
    video.load_state_dict(state, strict=True)
    image.eval()
    video.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert_close(video(x)[-1], image(x)[-1])
        # a clip of identical frames: every frame sees the image model's
        # spatial features, so the clip is close to the image features
        clip = video(x[:, :, None].expand(-1, -1, 4, -1, -1))[-1]
        assert clip.shape == (2, 768, 2, 2, 2)
        assert torch.isfinite(clip).all()


def test_inflate_mean_keeps_constant_clip_response():
    torch.manual_seed(0)
    image = randomize_(MViT(arch='image-tiny', input_size=(1, 64, 64)))
    video = MViT(arch='tiny', input_size=(4, 64, 64))
    state = mc.inflate_image_to_video(image.state_dict(), video, 'mean')
    weight = state['patch_embed.proj.weight']
    assert torch.allclose(
        weight.sum(2),
        image.state_dict()['patch_embed.proj.weight'][:, :, 0])
    missing, unexpected = video.load_state_dict(state, strict=False)
    assert missing == ['cls_token'] and not unexpected


def test_to_checkpoint_layout():
    ckpt = mc.to_checkpoint({'norm.weight': torch.ones(2)},
                            {'fc.weight': torch.ones(3, 2)}, 'k400',
                            dict(src='torchvision'))
    assert set(ckpt['state_dict']) == {
        'backbone.norm.weight', 'heads.k400.fc.weight'
    }
    assert ckpt['meta'] == dict(src='torchvision')
    backbone, head = mc.convert_state_dict(ckpt['state_dict'])
    assert set(backbone) == {'norm.weight'} and set(head) == {'fc.weight'}


def test_init_cfg_pretrained_converts_transparently(tmp_path):
    torch.manual_seed(0)
    ref = build_torchvision(tv_mvit.mvit_v2_s, (4, 64, 64))
    path = tmp_path / 'mvit_v2_s_tv.pth'
    torch.save(ref.state_dict(), path)
    model = MViT(
        arch='small',
        input_size=(4, 64, 64),
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    backbone, head = mc.convert_torchvision(ref.state_dict())
    x = torch.randn(1, 3, 4, 64, 64)
    with torch.no_grad():
        assert_close(head_linear(head)(model.eval()(x)[-1][1]), ref(x))

    # a recognizer checkpoint, loaded through a prefix
    rec_path = tmp_path / 'recognizer.pth'
    torch.save(mc.to_checkpoint(backbone, head, 'k400'), rec_path)
    other = MViT(
        arch='small',
        input_size=(4, 64, 64),
        init_cfg=dict(
            type='Pretrained', checkpoint=str(rec_path), prefix='backbone.'))
    other.init_weights()
    for key, value in model.state_dict().items():
        assert torch.equal(value, other.state_dict()[key]), key


def test_init_cfg_image_checkpoint_inflates(tmp_path):
    timm = pytest.importorskip('timm')
    torch.manual_seed(0)
    ref = timm.create_model('mvitv2_tiny', pretrained=False, img_size=64)
    path = tmp_path / 'timm.pth'
    torch.save({'state_dict': ref.state_dict()}, path)
    video = MViT(
        arch=_image_like_video_arch(),
        input_size=(4, 64, 64),
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    video.init_weights()
    backbone, head = mc.convert_state_dict(ref.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        logits = head_linear(head)(video.eval()(x)[-1].flatten(2).mean(-1))
        assert_close(logits, ref.eval()(x))


@pytest.mark.parametrize('config,name',
                         [('mvitv2_s_16x4_k400.py', 'mvit_v2_s'),
                          ('mvitv1_b_16x4_k400.py', 'mvit_v1_b')])
def test_recognition_config_gives_torchvision_logits(config, name, tmp_path):
    """The recognizer of the config, loaded with converted torchvision
    weights, gives torchvision's logits on the same uint8 clip (normalised
    by the config's preprocessor), at the weights' size and another one."""
    from mmengine.runner import load_checkpoint

    from mvitx.registry import MODELS
    from mvitx.utils import load_config, register_all_modules
    register_all_modules()
    root = os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    cfg = load_config(os.path.join(root, 'configs', 'recognition', config))
    # tables sized for the small test clips instead of 16x224x224
    cfg.model.backbone.input_size = (4, 64, 64)
    torch.manual_seed(0)
    ref = mc.build_torchvision_mvit(
        name, (4, 64, 64), stochastic_depth_prob=0.0).eval()
    backbone, head = mc.convert_torchvision(ref.state_dict())
    path = tmp_path / 'converted.pth'
    torch.save(mc.to_checkpoint(backbone, head, 'k400'), path)
    model = MODELS.build(cfg.model).eval()
    load_checkpoint(model, str(path), strict=True)
    mean, std = 0.45 * 255, 0.225 * 255

    # torchvision cannot resize MViTv1's absolute position embeddings
    sizes = [(4, 64, 64)] + [(8, 96, 64)] * (name == 'mvit_v2_s')
    for size in sizes:
        clips = torch.randint(0, 256, (2, 3, *size), dtype=torch.uint8)
        with torch.no_grad():
            # no data samples: the recognizer's only head answers
            data = model.data_preprocessor(dict(inputs=list(clips)))
            logits = model(data['inputs'], mode='tensor')
            if size != (4, 64, 64):
                sized = mc.build_torchvision_mvit(name, size).eval()
                for key, param in ref.named_parameters():
                    _replace_param(sized, key, param.detach())
                ref_logits = sized((clips.float() - mean) / std)
            else:
                ref_logits = ref((clips.float() - mean) / std)
        assert_close(logits, ref_logits)


def test_init_cfg_keeps_init_of_weights_the_checkpoint_lacks(tmp_path):
    torch.manual_seed(0)
    no_cls = MViT(arch=dict(MViT.arch_zoo['xs'], cls_token=False))
    no_cls.init_weights()
    path = tmp_path / 'no_cls.pth'
    torch.save({'state_dict': no_cls.state_dict()}, path)
    model = MViT(
        arch='xs', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert model.cls_token.abs().sum() > 0
    for key, value in no_cls.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
