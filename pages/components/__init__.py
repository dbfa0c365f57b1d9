"""Shared Streamlit helpers: sign-in state, role checks, navigation specs, rendering."""
