"""corr2d: a Python client of the corr2d service.

>>> import numpy as np, corr2d
>>> c = corr2d.Client("http://localhost:8080")
>>> X = np.ones((6, 8)); X[:, 2:6] = 0
>>> Y = c.corr2d(X, np.array([[1.0, -1.0]]))      # d2l's edge detection
>>> job = c.train(X, Y, kernel_size=(1, 2)).wait()  # learn the kernel back
>>> job.kernel                                      # close to [[1, -1]]

Tensors travel as NumPy ``.npy`` files; errors are raised as ProblemError.
"""

from ._client import Client, Job
from ._problem import ProblemError

__all__ = ["Client", "Job", "ProblemError"]
__version__ = "0.1.0"
