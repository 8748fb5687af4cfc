"""App-side glue for the Streamlit pages: cached state, pure figure builders, shared widgets.

``lab.figures`` is pure (no Streamlit); ``lab.state`` and ``lab.ui`` hold the Streamlit parts.
"""
