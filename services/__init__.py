"""The app's services, between the ``vae`` library and the Streamlit pages: the model catalog,
background training jobs and their worker, the decoder export for the browser, and upload
preprocessing. No Streamlit or Plotly here; limits and ownership are enforced here, not in pages."""
