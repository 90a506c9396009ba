"""SynthFER: licence-free procedural 3-D faces with exact control of identity, expression,
intensity, pose and illumination (see docs/synthfer.md)."""

from fer_zoo.data.faceset import EXPRESSIONS
from fer_zoo.data.synthfer.renderer import EVEN_LIGHT, Light, SynthFER

__all__ = ["EVEN_LIGHT", "EXPRESSIONS", "Light", "SynthFER"]
