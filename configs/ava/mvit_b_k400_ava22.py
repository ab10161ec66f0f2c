# MViTv2-B 32x3 fine-tuned on AVA v2.2 from a Kinetics-400 checkpoint: the
# recipe of mvit_s_k400_ava22.py with the base model, 32-frame clips and
# 4 clips per GPU (8 GPUs; same 64-clip steps with 2-step accumulation).
_base_ = ['./mvit_s_k400_ava22.py']

pretrained = 'checkpoints/mvit_b_k400.pth'
clip_len, frame_interval = 32, 3
train_dataloader = dict(
    batch_size=4,
    dataset=dict(pipeline=[
        dict(
            type='LoadAVAClip',
            clip_len=clip_len,
            frame_interval=frame_interval), *_base_.train_pipeline[1:]
    ]))
val_dataloader = dict(
    dataset=dict(pipeline=[
        dict(
            type='LoadAVAClip',
            clip_len=clip_len,
            frame_interval=frame_interval), *_base_.test_pipeline[1:]
    ]))
test_dataloader = val_dataloader
model = dict(
    backbone=dict(
        arch='base', drop_path_rate=0.3, init_cfg=dict(checkpoint=pretrained)))
optim_wrapper = dict(accumulative_counts=2)
