"""litedepth: light, fast monocular depth estimation by knowledge distillation.

>>> import litedepth
>>> model = litedepth.load("student.safetensors")        # or an authors' .pt, an .onnx, an architecture name
>>> model = litedepth.load("hu2021:N_s_X_U_unlabel")     # the authors' released network, downloaded once
>>> depth = model.predict("room.jpg")                     # H x W float32, metres
"""

from .checkpoint import save_model
from .errors import LitedepthError
from .hub import DepthModel, UntrainedWeightsWarning, load
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
