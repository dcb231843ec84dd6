"""fer_utils: the tested helpers behind the FER2013 course-report workbook."""

from fer_utils import quiet

__version__ = "0.1.0"

# TensorFlow's and Jupyter's start-up lines flood terminals, notebooks and logs: silenced before TensorFlow is
# imported (by any module, keras included), errors kept (fer_utils.quiet says what and how).
quiet.configure_environment()
quiet.install()
quiet.quiet_known_warnings()

# FER2013 label order: index = label in every file form.
CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SIZE = 48
NUM_PIXELS = IMAGE_SIZE * IMAGE_SIZE
