"""Measuring the shipped models: the served-path evaluation and the crop calibration."""
