"""fer_utils: the tested helpers behind the FER2013 course-report workbook."""

import os

__version__ = "0.1.0"

# TensorFlow's C++ INFO/WARNING lines flood notebooks and logs; set before TensorFlow is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# FER2013 label order: index = label in every file form.
CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SIZE = 48
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
