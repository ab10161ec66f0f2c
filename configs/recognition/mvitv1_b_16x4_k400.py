# MViTv1-B 16x4 on Kinetics-400 with the weights of torchvision's
# `mvit_v1_b` (ported from PySlowFast; 78.5 top-1 at 5 clips x 3 crops per
# torchvision). Convert them once:
#   python tools/convert/convert_mvit.py --src torchvision \
#       mvit_v1_b-dbeb1030.pth work_dirs/mvitv1_b_16x4_k400_tv.pth
# MViTv1 has a separable absolute position embedding (no relative
# positions); it is interpolated for other input sizes.
_base_ = ['./mvitv2_s_16x4_k400.py']

load_from = 'work_dirs/mvitv1_b_16x4_k400_tv.pth'

model = dict(backbone=dict(arch='v1-b', drop_path_rate=0.2))
