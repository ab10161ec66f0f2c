# The demo's video-only baseline with the plugin's ChannelGateNeck between
# the backbone and the head. The neck comes from this project through
# custom_imports; nothing in mvitx/ knows about it.
#   tools/dist_train.sh projects/example_plugin/configs/mvit_xs_demo_video_gate.py 2
_base_ = ['../../../configs/cotrain/mvit_xs_demo_video.py']

custom_imports = dict(
    imports=['projects.example_plugin.models'], allow_failed_imports=False)
model = dict(neck=dict(type='ChannelGateNeck', in_channels=64))
