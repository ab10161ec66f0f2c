from .cls_head import ClsHead
from .roi_head import AVARoIHead
