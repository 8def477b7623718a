"""litedepth: light, fast monocular depth estimation by knowledge distillation.

>>> import litedepth
>>> model = litedepth.load("student.safetensors")        # or the authors' .pt with arch=...
>>> depth = model.predict("room.jpg")                     # H x W float32, metres
"""

from .checkpoint import load, save_model
from .errors import LitedepthError
from .models import ARCHITECTURES, create_model

__version__ = "0.1.0"
__all__ = ["load", "save_model", "create_model", "ARCHITECTURES", "LitedepthError", "__version__"]
