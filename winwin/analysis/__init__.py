"""Analyses of the Win-Win mechanisms (e.g. ``self_attention``: Appendix D's softmax-temperature diagnostic)."""
