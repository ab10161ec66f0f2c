# The AVA demo with top-down modulation: mvit_xs_demo_ava.py (same model,
# data, schedule) plus the generator's priors (every frame's person, head,
# hand and object boxes, priors/{video_id}.npz) and the TopDownModulation
# neck. SelectActorPriors keeps the priors of the clip's actors (their
# hands, heads and held objects; bystanders' are dropped); the RoI head
# then classifies each actor.
_base_ = ['./mvit_xs_demo_ava.py']

train_pipeline = [
    dict(type='LoadAVAClip', clip_len=8, frame_interval=1),
    dict(type='LoadPriors', keypoint_layout='coco', on_missing='raise'),
    dict(type='SelectActorPriors'),
    dict(type='Resize', scale=(96, 64)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='PackActionInputs', meta_keys=_base_.meta_keys),
]
test_pipeline = [
    dict(type='LoadAVAClip', clip_len=8, frame_interval=1),
    dict(type='LoadPriors', keypoint_layout='coco', on_missing='raise'),
    dict(type='SelectActorPriors'),
    dict(type='Resize', scale=(96, 64)),
    dict(type='PackActionInputs', meta_keys=_base_.meta_keys),
]
work_dir = 'work_dirs/mvit_xs_demo_ava_topdown'
train_dataloader = dict(
    dataset=dict(prior_prefix='priors', pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(prior_prefix='priors', pipeline=test_pipeline))
test_dataloader = val_dataloader

# 'xs': blocks 0-1 at 4x16x24 tokens (32 channels), 2-3 at 4x8x12 (64).
# Hand, head (face) and object boxes select up to 96 first-stage tokens.
model = dict(
    neck=dict(
        type='TopDownModulation',
        stage0_channels=32,
        block_indices=(2, 3),
        block_channels=(64, 64),
        embed_dims=64,
        num_heads=2,
        max_tokens=96,
        box_types=(1, 2, 3),
        loss_attn=dict(type='AttentionKLLoss', loss_weight=0.1)))
