"""Studio: a desktop creative studio for the generative models of *Generative Deep Learning*."""

__version__ = "0.1.0"
