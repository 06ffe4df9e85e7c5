"""Drop-in replacements for operators Google removed from its Airflow provider, running on any backend."""
