"""Example trainer application for airflow-provider-trainjobs (a numpy MLP that really learns)."""
