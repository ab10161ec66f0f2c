from .base_neck import BaseNeck, ModulationOutput
from .prior_structure_head import PriorStructureHead
from .topdown import ModulationContext, TopDownModulation

__all__ = [
    'BaseNeck', 'ModulationContext', 'ModulationOutput', 'PriorStructureHead',
    'TopDownModulation'
]
