"""Every figure of the project, one module per family. Kedro-free.

Figures are built on :class:`matplotlib.figure.Figure` directly, not through pyplot, so a
run that makes many of them keeps no global figure state.
"""
