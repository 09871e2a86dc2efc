"""DR Portal machine-learning package (diabetic-retinopathy grading).

Plain Python + numpy + TensorFlow/Keras; never imports Django.
"""

__all__ = ["__version__"]

__version__ = "1.0"
