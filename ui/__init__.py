"""The Streamlit side of the app: process-wide cached state (``ui.state``), the live-decoding
component (``ui.live``), shared widgets (``ui.widgets``) and pure figure builders
(``ui.figures`` and ``ui.fig_*``: no Streamlit, unit-testable)."""
