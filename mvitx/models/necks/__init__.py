from .base_neck import BaseNeck
from .topdown import TopDownModulation

__all__ = ['BaseNeck', 'TopDownModulation']
