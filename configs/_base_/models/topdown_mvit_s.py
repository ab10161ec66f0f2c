# The top-down neck of MViTv2-S, one definition for the Kinetics recipe
# (configs/topdown/mvit_s_k400_topdown.py) and the AVA recipes that
# initialise from it (configs/ava/mvit_s_k400_ava22_topdown.py): blocks 5,
# 9 and 13 (stage 3, 384 channels) attend to up to 256 unpooled stage-1
# tokens (96 channels) selected by hand, face and object boxes and by
# windows on COCO-WholeBody keypoints (nose, wrists, index and middle
# fingertips of both hands), with a supervised attention target.
topdown_neck = dict(
    type='TopDownModulation',
    stage0_channels=96,
    block_indices=(5, 9, 13),
    block_channels=(384, 384, 384),
    embed_dims=192,
    num_heads=2,
    max_tokens=256,
    query_mode='all',
    box_types=(1, 2, 3),
    keypoint_indices=(9, 10, 95, 116, 99, 120, 0),
    keypoint_window=16.,
    keypoint_score_thr=0.3,
    loss_attn=dict(type='AttentionKLLoss', loss_weight=0.1))
