from .ava_dataset import AVADataset  # noqa: F401
from .base_dataset import BaseActionDataset
from .cotrain_dataset import CoTrainDataset
from .image_dataset import ImageDataset
from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
from .video_dataset import VideoDataset
