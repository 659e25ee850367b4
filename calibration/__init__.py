"""calibration: datasets, preprocessing, calibration readers, INT8 recipes and quantization (no torch)."""
