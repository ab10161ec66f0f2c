# mvit_s_k400_ava22.py trained on AVA-Kinetics: the AVA v2.2 keyframes
# (frames, as there) plus the Kinetics-700 keyframes of AVA-Kinetics, read
# from the Kinetics clips with decord at their own frame rate, in one
# training set; validated on AVA v2.2 val (v2.2 protocol), so its numbers
# compare with the AVA-only recipe. Same schedule (33k steps of 64 clips),
# so fewer passes over AVA. Data layout (docs/ava.md):
#   data/ava/annotations/kinetics_train_v1.0.csv  from ava_kinetics_v1_0
#   data/kinetics700/videos_train/**/{youtube_id}_{start:06d}_{end:06d}.mp4
_base_ = ['./mvit_s_k400_ava22.py']

kinetics_train = dict(
    type='AVADataset',
    data_root=_base_.data_root,
    # Relative to data_root; any folder tree holding the clips.
    data_prefix=dict(video='../kinetics700/videos_train'),
    kinetics_clips=True,
    fps=None,
    ann_file='annotations/kinetics_train_v1.0.csv',
    label_file=_base_.dataset_common.label_file,
    num_classes=_base_.dataset_common.num_classes,
    # Person detections keyed 'youtube_id,%04d' (mmaction2's
    # tools/data/ava_kinetics/fetch_proposal.py) may be added with
    # proposal_file=... and train_with_proposals=True.
    pipeline=_base_.train_pipeline)
train_dataloader = dict(
    dataset=dict(
        # Replaces the AVADataset of the base config by the two sets.
        _delete_=True,
        type='ConcatDataset',
        datasets=[_base_.train_dataloader.dataset, kinetics_train]))
