"""The embedded local training service (``trainjobs-local``): ml v1, aiplatform v1, logging and storage."""
