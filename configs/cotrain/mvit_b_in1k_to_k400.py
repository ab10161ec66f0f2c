# The usual route: fine-tune the ImageNet-1K MViTv2-B of mvit_b_in1k.py on
# Kinetics-400. Images are one-frame clips of the same model, so the image
# weights load as they are (the in1k head is left out, the k400 head is
# new). Train mvit_b_in1k.py first, or pass another checkpoint with
# --cfg-options load_from=PATH.
_base_ = ['./mvit_b_k400.py']

load_from = 'work_dirs/mvit_b_in1k/iter_100000.pth'

optim_wrapper = dict(
    optimizer=dict(lr=4.8e-4),
    # Layer-wise lr decay: pre-trained early blocks move less.
    paramwise_cfg=dict(layer_decay_rate=0.75))

max_iters = 50000
warmup_iters = 2500
train_cfg = dict(max_iters=max_iters, val_interval=5000)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=False,
        begin=0,
        end=warmup_iters),
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters - warmup_iters,
        eta_min=4.8e-6,
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters)
]
default_hooks = dict(checkpoint=dict(interval=5000))
