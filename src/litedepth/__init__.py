"""litedepth: light, fast monocular depth estimation by knowledge distillation.

>>> import litedepth
>>> model = litedepth.load("student.safetensors")        # or the authors' .pt, an .onnx, an architecture name
>>> depth = model.predict("room.jpg")                     # H x W float32, metres
"""

from .checkpoint import DepthModel, UntrainedWeightsWarning, load, save_model
from .errors import LitedepthError
from .models import ARCHITECTURES, create_model

__version__ = "0.1.0"
__all__ = [
    "load",
    "save_model",
    "create_model",
    "ARCHITECTURES",
    "DepthModel",
    "LitedepthError",
    "UntrainedWeightsWarning",
    "__version__",
]
