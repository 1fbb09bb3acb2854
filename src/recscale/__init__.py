"""recscale: scaling laws for recommendation models.

Train DLRM-style CTR models at many sizes in one pass over the data, record normalized entropy (NE)
at log-spaced sample counts, and fit NE(x) = alpha * x**(-beta) + gamma along data, parameters and
compute. See README.md for the tour and ARCHITECTURE.md for the data flow.
"""

__version__ = "0.1.0"
