# mvit_b_k400_ava22.py with top-down modulation (see
# mvit_s_k400_ava22_topdown.py): the neck of configs/_base_/models/
# topdown_mvit_s.py on blocks 8, 14 and 20 of the base model's third stage
# (384 channels). No Kinetics top-down B recipe exists, so with the official
# backbone checkpoint the neck starts fresh (named at WARNING).
_base_ = ['./mvit_b_k400_ava22.py', '../_base_/models/topdown_mvit_s.py']

prior_prefix = 'priors'
model = dict(
    neck=dict(_base_.topdown_neck, block_indices=(8, 14, 20)),
    init_cfg=dict(parts=('backbone', 'neck')))
