"""fer_utils: the tested helpers behind the FER2013 course-report workbook.

Importing it changes nothing in the process: the processes the project starts (``fer-workbook`` and the kernels
it runs the notebooks in) silence TensorFlow's start-up lines themselves (``fer_utils.quiet.activate``).
"""

__version__ = "0.1.0"

# FER2013 label order: index = label in every file form.
CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SIZE = 48
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
