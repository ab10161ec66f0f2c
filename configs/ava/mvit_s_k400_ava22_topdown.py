# mvit_s_k400_ava22.py with top-down modulation: priors extracted with
# tools/data/extract_priors.py (person/hand/face boxes, COCO-WholeBody
# keypoints) under data/ava/priors/{video_id}.npz, frame indices counted
# from the first extracted frame (docs/ava.md). The neck modulates blocks
# 5, 9 and 13 (stage 3, 384 channels) with the hands, faces and objects of
# the clip's actors; the RoI head classifies each actor.
_base_ = ['./mvit_s_k400_ava22.py']

train_dataloader = dict(
    dataset=dict(
        prior_prefix='priors',
        pipeline=[
            _base_.train_pipeline[0],
            dict(
                type='LoadPriors',
                keypoint_layout='coco_wholebody',
                on_missing='raise'),
            dict(type='SelectActorPriors'), *_base_.train_pipeline[1:]
        ]))
val_dataloader = dict(
    dataset=dict(
        prior_prefix='priors',
        pipeline=[
            _base_.test_pipeline[0],
            dict(
                type='LoadPriors',
                keypoint_layout='coco_wholebody',
                on_missing='raise'),
            dict(type='SelectActorPriors'), *_base_.test_pipeline[1:]
        ]))
test_dataloader = val_dataloader
model = dict(
    neck=dict(
        type='TopDownModulation',
        stage0_channels=96,
        block_indices=(5, 9, 13),
        block_channels=(384, 384, 384),
        embed_dims=128,
        num_heads=2,
        max_tokens=256,
        box_types=(1, 2, 3),
        # Wrists and hand keypoints of COCO-WholeBody.
        keypoint_indices=(9, 10),
        keypoint_window=24.,
        loss_attn=dict(type='AttentionKLLoss', loss_weight=0.1)))
