"""The runtime around the pipeline: settings, the Celery app, worker start-up, the CLI and the Python API."""
