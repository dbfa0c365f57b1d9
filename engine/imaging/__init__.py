"""Chest X-ray pneumonia read: decode, preprocess, CNN, Grad-CAM, quality checks.

Why a package of small modules: training, evaluation, the app and the REST API
must share one decode and one preprocessing path, so a model never sees pixels
prepared differently from the ones it was trained on.
"""
