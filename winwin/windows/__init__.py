"""Window samplers: token grid -> ``Windows(boxes, index, pos)``. Torch only, no nn.Module."""

from .core import Windows, crop_window_pixels, from_boxes, grid_map, window_pixel_index
from .flow_guided import sample_flow_guided_windows
from .sampler import check_fit, coverage, max_windows_that_fit, sample_windows
from .spec import WindowSpec

__all__ = [
    "Windows",
    "WindowSpec",
    "check_fit",
    "crop_window_pixels",
    "coverage",
    "from_boxes",
    "grid_map",
    "max_windows_that_fit",
    "sample_flow_guided_windows",
    "sample_windows",
    "window_pixel_index",
]
