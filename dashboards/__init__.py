"""Plotly dashboards built from MLflow runs and result files."""
