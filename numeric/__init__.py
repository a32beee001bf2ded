"""lossproof.numeric — fast, numerically stable information measures and losses (NumPy only).

Every function validates its input (bad input raises ``ValueError``/``TypeError`` naming
the argument), broadcasts, keeps float32 as float32 and float64 as float64, and is
verified against mpmath evaluating the *definition* at >= 50 digits.  Information
quantities take ``base=`` (default ``math.e``: nats; ``base=2``: bits).  Probability
inputs must be non-negative and sum to 1 within ``4 * max(K, 4) * eps`` of their dtype
(float16's eps for float16 input, which is computed in float32); they are never
normalised silently.  Masked arrays are refused (``TypeError``: ``np.asarray`` would drop
the mask), as are tensors that require grad (pass ``.detach().numpy()``); ``axis`` must
be an int (``axis=None`` is refused naming ``axis``, except for ``mse``).  Conventions:
``0 * log 0 = 0``; ``D(p || q) = +inf`` where ``q_k = 0 < p_k``.

Information
-----------
self_information             -log_b p
entropy                      H(p) = -sum p log p
joint_entropy                H(X, Y) of a joint table
conditional_entropy          H(Y | X) of a joint table (rows index X)
mutual_information           I(X; Y) = D(P_XY || P_X P_Y)
pointwise_mutual_information log p(x, y) / (p(x) p(y)), elementwise
cross_entropy                H(p, q) = -sum p log q  (true distribution first)
kl_divergence                D(p || q) = sum p log(p / q)
perplexity                   b ** H

Activations
-----------
sigmoid, log_sigmoid, softplus, logsumexp, softmax, log_softmax

Losses (prediction first, as in torch/optax)
--------------------------------------------
binary_cross_entropy, binary_cross_entropy_grad,
binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_grad,
softmax_cross_entropy, softmax_cross_entropy_grad, smooth_labels,
distillation_loss, distillation_loss_grad, mse, mse_grad

Gaussian
--------
gaussian_kl, gaussian_entropy, gaussian_nll, mvn_kl
"""

from numeric._activations import (
    log_sigmoid,
    log_softmax,
    logsumexp,
    sigmoid,
    softmax,
    softplus,
)
from numeric._gaussian import gaussian_entropy, gaussian_kl, gaussian_nll, mvn_kl
from numeric._information import (
    conditional_entropy,
    cross_entropy,
    entropy,
    joint_entropy,
    kl_divergence,
    mutual_information,
    perplexity,
    pointwise_mutual_information,
    self_information,
)
from numeric._losses import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    distillation_loss,
    distillation_loss_grad,
    mse,
    mse_grad,
    smooth_labels,
    softmax_cross_entropy,
    softmax_cross_entropy_grad,
)

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "conditional_entropy",
    "cross_entropy",
    "distillation_loss",
    "distillation_loss_grad",
    "entropy",
    "gaussian_entropy",
    "gaussian_kl",
    "gaussian_nll",
    "joint_entropy",
    "kl_divergence",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "mse",
    "mse_grad",
    "mutual_information",
    "mvn_kl",
    "perplexity",
    "pointwise_mutual_information",
    "self_information",
    "sigmoid",
    "smooth_labels",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softplus",
]
