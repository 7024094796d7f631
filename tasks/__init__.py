"""Celery tasks: thin wrappers that run the pipeline's steps on the embed, index, sweep and train queues."""
