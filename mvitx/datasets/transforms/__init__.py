from .ava_loading import LoadAVAClip  # noqa: F401
from .blanking import BlankRegions  # noqa: F401
from .formatting import PackActionInputs
from .loading import (BrokenInputError, DecordDecode, DecordInit, LoadImage,
                      PyAVDecode, PyAVInit, SampleFrames, TorchCodecDecode,
                      TorchCodecInit)
from .priors import LoadPriors, SelectActorPriors  # noqa: F401
from .processing import (CenterCrop, ColorJitter, Flip, RandAugment,
                         RandomErasing, RandomResizedCrop,
                         RandomShortSideScale, Resize, ThreeCrop)
from .temporal import PermuteFrames  # noqa: F401
