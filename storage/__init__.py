"""Persistence: the image registry, vectors, the segmented Annoy index, pairs and the model registry."""
