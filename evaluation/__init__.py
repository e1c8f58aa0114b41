"""Evaluation: the paper metrics as the official scorers compute them; CodaLab submissions. Imports neither Ray nor MLflow."""
