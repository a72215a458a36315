"""The staged data's layout in S3 and on disk, shared by staging, training requests and executions.

A module of its own (no imports) so that building a request does not load pandas and Pillow.
"""

# Split -> manifest name.
MANIFESTS = {"train": "train.lst", "test": "test.lst"}
# SageMaker channel -> path relative to the data prefix (the built-in algorithm's four channels).
CHANNELS = {"train": "train/", "validation": "test/", "train_lst": "train.lst", "validation_lst": "test.lst"}
