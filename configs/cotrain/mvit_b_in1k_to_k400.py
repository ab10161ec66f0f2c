# The usual route: fine-tune the ImageNet-1K MViTv2-B of mvit_b_in1k.py on
# Kinetics-400. Images are one-frame clips of the same model, so the image
# weights load as they are (the in1k head is left out, the k400 head is
# new). Train mvit_b_in1k.py first, or pass another checkpoint with
# --cfg-options load_from=PATH.
_base_ = ['./mvit_b_k400.py']

load_from = 'work_dirs/mvit_b_in1k/iter_100000.pth'

lr, min_lr = 4.8e-4, 4.8e-6
max_iters, warmup_iters, val_interval = 50000, 2500, 5000
# Layer-wise lr decay: pre-trained early blocks move less.
layer_decay_rate = 0.75
