from .channel_gate_neck import ChannelGateNeck

__all__ = ['ChannelGateNeck']
