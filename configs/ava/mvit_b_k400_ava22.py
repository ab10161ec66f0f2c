# MViTv2-B 32x3 fine-tuned on AVA v2.2 from a Kinetics-400 checkpoint: the
# recipe of mvit_s_k400_ava22.py (configs/ava/_base_/ava22.py) with the base
# model, 32-frame clips and 4 clips per GPU (8 GPUs; same 64-clip steps
# with 2-step accumulation).
_base_ = [
    '../_base_/default_runtime.py', './_base_/ava22.py',
    '../_base_/schedules/adamw_cosine.py'
]

pretrained = 'checkpoints/mvit_b_k400.pth'
clip_len, frame_interval = 32, 3
train_dataloader = dict(batch_size=4)
model = dict(backbone=dict(arch='base', drop_path_rate=0.3))
optim_wrapper = dict(type='BF16OptimWrapper', accumulative_counts=2)
train_cfg = dict(type='IterBasedTrainLoop')
default_hooks = dict(
    checkpoint=dict(interval='${val_interval}', save_best='ava/mAP'))
