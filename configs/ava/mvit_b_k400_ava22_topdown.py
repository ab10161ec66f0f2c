# mvit_b_k400_ava22.py with top-down modulation (see
# mvit_s_k400_ava22_topdown.py): blocks 8, 14 and 20 of the base model's
# third stage (384 channels).
_base_ = ['./mvit_b_k400_ava22.py']

train_dataloader = dict(
    dataset=dict(
        prior_prefix='priors',
        pipeline=[
            _base_.train_dataloader.dataset.pipeline[0],
            dict(
                type='LoadPriors',
                keypoint_layout='coco_wholebody',
                on_missing='raise'),
            dict(type='SelectActorPriors'),
            *_base_.train_dataloader.dataset.pipeline[1:]
        ]))
val_dataloader = dict(
    dataset=dict(
        prior_prefix='priors',
        pipeline=[
            _base_.val_dataloader.dataset.pipeline[0],
            dict(
                type='LoadPriors',
                keypoint_layout='coco_wholebody',
                on_missing='raise'),
            dict(type='SelectActorPriors'),
            *_base_.val_dataloader.dataset.pipeline[1:]
        ]))
test_dataloader = val_dataloader
model = dict(
    neck=dict(
        type='TopDownModulation',
        stage0_channels=96,
        block_indices=(8, 14, 20),
        block_channels=(384, 384, 384),
        embed_dims=128,
        num_heads=2,
        max_tokens=256,
        box_types=(1, 2, 3),
        keypoint_indices=(9, 10),
        keypoint_window=24.,
        loss_attn=dict(type='AttentionKLLoss', loss_weight=0.1)))
