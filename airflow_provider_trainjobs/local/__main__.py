"""``python -m airflow_provider_trainjobs.local``: the ``trainjobs-local`` command."""

from airflow_provider_trainjobs.local.cli import main

raise SystemExit(main())
