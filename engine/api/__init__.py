"""ClinSight over HTTP: a FastAPI app serving the same engine and store as the Streamlit app.

Run it with ``make api`` (uvicorn on 127.0.0.1:8000); the OpenAPI schema and a
try-it page are at ``/docs``. Start from :func:`engine.api.app.create_app`.
"""
