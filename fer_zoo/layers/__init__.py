"""Custom Keras layers of fer_zoo (registered under the "fer_zoo" package) and shared losses.

```python
from fer_zoo.layers import ConvMLP, HalfConv, losses
```
"""

from fer_zoo.layers import losses
from fer_zoo.layers.code_tiling import TileCode
from fer_zoo.layers.conv_mlp import ConvMLP
from fer_zoo.layers.half_conv import HalfConv
from fer_zoo.layers.intensity_code import ExpressionIntensityCode
from fer_zoo.layers.max_feature_map import MaxFeatureMap
from fer_zoo.layers.mirror import MirrorImage
from fer_zoo.layers.normalization import InstanceNormalization

__all__ = [
    "ConvMLP",
    "ExpressionIntensityCode",
    "HalfConv",
    "InstanceNormalization",
    "MaxFeatureMap",
    "MirrorImage",
    "TileCode",
    "losses",
]
