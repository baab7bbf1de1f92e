"""Limited-memory BFGS with a strong-Wolfe line search, one iteration per epoch.

anncli implements L-BFGS itself instead of calling scipy's L-BFGS-B: scipy keeps its state
(the correction pairs, the line-search position) inside the Fortran routine, where it can be
neither saved nor restored, so a run could not be checkpointed and resumed *exactly*.  Here
the whole state (current point's loss and gradient, the correction pairs s_k, y_k) is plain
arrays (:meth:`LBFGS.state_dict`).

One epoch = one L-BFGS iteration: a two-loop-recursion direction and a line search
(Nocedal & Wright, Algorithms 3.5/3.6, cubic interpolation) that usually accepts the unit
step after one loss evaluation.  (ænet counts every function evaluation as an epoch.)
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np

logger = logging.getLogger(__name__)

LossGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]


def _cubic_min(a, fa, da, b, fb, db):
    """Minimiser of the cubic through (a, fa, da), (b, fb, db); NaN if it does not exist."""
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    if disc < 0:
        return math.nan
    d2 = math.copysign(math.sqrt(disc), b - a)
    denom = db - da + 2.0 * d2
    if denom == 0:
        return math.nan
    return b - (b - a) * (db + d2 - d1) / denom


def line_search(phi, f0: float, d0: float, alpha1: float, c1: float = 1e-4, c2: float = 0.9,
                max_eval: int = 25):
    """Strong-Wolfe line search.

    Parameters
    ----------
    phi : callable alpha -> (f, dphi)
        Loss along the search direction and its derivative.
    f0, d0 : float
        phi(0) and phi'(0) < 0.
    alpha1 : float
        First trial step.

    Returns
    -------
    alpha : float or None
        Accepted step (None if no step decreasing the loss was found).
    n_eval : int
    """
    n_eval = 0

    def call(a):
        nonlocal n_eval
        n_eval += 1
        f, d = phi(a)
        return f, d

    def zoom(lo, flo, dlo, hi, fhi, dhi):
        for _ in range(max_eval):
            width = hi - lo
            a = _cubic_min(lo, flo, dlo, hi, fhi, dhi)
            lo_b, hi_b = sorted((lo + 0.1 * width, hi - 0.1 * width))
            if not (math.isfinite(a) and lo_b <= a <= hi_b):
                a = lo + 0.5 * width
            f, d = call(a)
            if not math.isfinite(f) or f > f0 + c1 * a * d0 or f >= flo:
                hi, fhi, dhi = a, f, d
            else:
                if abs(d) <= -c2 * d0:
                    return a
                if d * (hi - lo) >= 0:
                    hi, fhi, dhi = lo, flo, dlo
                lo, flo, dlo = a, f, d
            if abs(hi - lo) < 1e-14 * max(1.0, abs(lo)):
                break
        return lo if lo > 0 else None

    a_prev, f_prev, d_prev = 0.0, f0, d0
    a = alpha1
    for i in range(max_eval):
        f, d = call(a)
        if not math.isfinite(f):
            a = a_prev + 0.1 * (a - a_prev)  # overshoot into NaN/inf: shrink
            continue
        if f > f0 + c1 * a * d0 or (i > 0 and f >= f_prev):
            return zoom(a_prev, f_prev, d_prev, a, f, d), n_eval
        if abs(d) <= -c2 * d0:
            return a, n_eval
        if d >= 0:
            return zoom(a, f, d, a_prev, f_prev, d_prev), n_eval
        a_prev, f_prev, d_prev = a, f, d
        a = 2.0 * a
    return (a_prev if a_prev > 0 else None), n_eval


class LBFGS:
    """L-BFGS optimiser (batch).

    Parameters
    ----------
    memory : int
        Correction pairs kept (ænet: 20).
    c1, c2 : float
        Wolfe constants.
    """

    def __init__(self, memory: int = 20, c1: float = 1e-4, c2: float = 0.9) -> None:
        self.memory = int(memory)
        self.c1, self.c2 = c1, c2
        self.f: float | None = None
        self.g: np.ndarray | None = None
        self.s: list[np.ndarray] = []
        self.y: list[np.ndarray] = []
        self.converged = False

    def _direction(self, g: np.ndarray) -> np.ndarray:
        q = -g.copy()
        alphas = []
        rhos = [1.0 / float(y @ s) for s, y in zip(self.s, self.y)]
        for s, y, rho in zip(reversed(self.s), reversed(self.y), reversed(rhos)):
            a = rho * float(s @ q)
            alphas.append(a)
            q -= a * y
        if self.s:
            s, y = self.s[-1], self.y[-1]
            q *= float(s @ y) / float(y @ y)
        for (s, y, rho), a in zip(zip(self.s, self.y, rhos), reversed(alphas)):
            b = rho * float(y @ q)
            q += (a - b) * s
        return q

    def step(self, params: np.ndarray, loss_grad: LossGrad) -> int:
        """One iteration; ``params`` is updated in place.  Returns the loss evaluations used."""
        n_eval = 0
        if self.g is None:
            self.f, g = loss_grad(params)
            self.g = g.copy()
            n_eval += 1
        if self.converged:
            return n_eval
        for attempt in range(2):
            d = self._direction(self.g)
            d0 = float(self.g @ d)
            if not d0 < 0:
                self.s, self.y = [], []
                d = -self.g
                d0 = float(self.g @ d)
            if d0 == 0:
                self.converged = True
                return n_eval
            alpha1 = 1.0 if self.s else min(1.0, 1.0 / math.sqrt(-d0))
            trial: dict[float, tuple[np.ndarray, float, np.ndarray]] = {}
            x0 = params.copy()

            def phi(a):
                x = x0 + a * d
                f, g = loss_grad(x)
                trial[a] = (x, f, g.copy())
                return f, float(g @ d)

            alpha, k = line_search(phi, self.f, d0, alpha1, self.c1, self.c2)
            n_eval += k
            if alpha is not None:
                x, f, g = trial[alpha]
                s = x - x0
                y = g - self.g
                if float(s @ y) > 1e-12 * float(y @ y):
                    self.s.append(s)
                    self.y.append(y)
                    if len(self.s) > self.memory:
                        self.s.pop(0)
                        self.y.pop(0)
                params[...] = x
                self.f, self.g = f, g
                return n_eval
            params[...] = x0
            if not self.s:
                break
            logger.info("L-BFGS line search failed; memory reset")
            self.s, self.y = [], []
        logger.info("L-BFGS: no further decrease of the loss found (converged)")
        self.converged = True
        return n_eval

    def state_dict(self) -> dict:
        """The whole state as arrays and scalars (for checkpoints)."""
        n = 0 if self.g is None else len(self.g)
        return {
            "f": math.nan if self.f is None else float(self.f),
            "g": np.zeros(0) if self.g is None else self.g,
            "s": np.array(self.s).reshape(len(self.s), n),
            "y": np.array(self.y).reshape(len(self.y), n),
            "converged": bool(self.converged),
        }

    def load_state_dict(self, state: dict) -> None:
        g = np.asarray(state["g"])
        self.g = None if g.size == 0 else g.copy()
        self.f = None if self.g is None else float(state["f"])
        self.s = [row.copy() for row in np.asarray(state["s"])]
        self.y = [row.copy() for row in np.asarray(state["y"])]
        self.converged = bool(state["converged"])
