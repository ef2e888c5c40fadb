"""winwin: train plain ViTs for high-resolution dense prediction from a few random windows (Win-Win,
Leroy et al., ICLR 2024) and run them on the full image in one forward pass."""

__version__ = "0.1.0"
