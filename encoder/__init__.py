"""The image encoder: decoding, augmentations, the Siamese model, its losses, training and calibration."""
