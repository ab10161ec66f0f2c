# mvit_b_in_k400.py with the label-space bridge (docs/cotraining.md):
# ImageNet batches also train the K400 head's rows of the 49 Kinetics
# classes the reviewed map in1k_k400.csv reaches from 63 ImageNet classes,
# from their (Mixup/CutMix) labels and from the ImageNet head's belief.
_base_ = ['./mvit_b_in_k400.py']

model = dict(
    bridge=dict(
        type='LabelBridge',
        class_map='in1k_k400.csv',
        image_source='in1k',
        video_source='k400',
        shared_rows_weight=1.0,
        soft_target_weight=0.5))
