# MViTv2-S co-trained on ImageNet-1K + Kinetics-400: the recipe of
# mvit_b_in_k400.py with the small model (drop path 0.2).
_base_ = ['./mvit_b_in_k400.py']

model = dict(backbone=dict(arch='small', drop_path_rate=0.2))
