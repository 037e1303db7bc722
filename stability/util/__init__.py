"""Small helpers with no analysis in them: atomic file writes and time limits.

The trainer may import this package and :mod:`stability.spec`; nothing here imports sympy, scipy or torch.
"""
