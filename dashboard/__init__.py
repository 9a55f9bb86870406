"""The lwirst Streamlit dashboard: `app.py` is the entry point, `common.py` the shared UI pieces."""
