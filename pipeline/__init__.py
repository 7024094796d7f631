"""The work itself, with no Celery in it: embed a batch, index it, sweep a collection, write the outputs."""
