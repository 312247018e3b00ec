"""Misbehaving classifiers, importable so that joblib can load them back (``--allow-pickle``).

Each one has ``classes_`` like a fitted scikit-learn classifier and a ``predict_proba`` that breaks
one promise: it raises, returns NaN, negative probabilities, the wrong shape, or takes too long.
"""

from __future__ import annotations

import time

import numpy as np

CLASSES = np.array(["no", "yes"], dtype=object)


class _Base:
    classes_ = CLASSES

    def fit(self, X, y):  # pragma: no cover - never trained
        return self

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _good(self, X) -> np.ndarray:
        x1 = np.asarray(X["x1"] if hasattr(X, "columns") else np.asarray(X)[:, 0], dtype=float)
        p = 1 / (1 + np.exp(-2 * x1))
        return np.column_stack([1 - p, p])


class RaisingClassifier(_Base):
    def predict_proba(self, X):
        raise RuntimeError("the model crashed on purpose")


class NaNClassifier(_Base):
    def predict_proba(self, X):
        proba = self._good(X)
        proba[::3] = np.nan
        return proba


class NegativeClassifier(_Base):
    def predict_proba(self, X):
        proba = self._good(X)
        return np.column_stack([proba[:, 0] - 0.5, proba[:, 1] + 0.5])


class WrongShapeClassifier(_Base):
    def predict_proba(self, X):
        proba = self._good(X)
        return np.column_stack([proba, np.zeros(len(proba))])  # three columns for two classes


class OneDimensionalClassifier(_Base):
    def predict_proba(self, X):
        return self._good(X)[:, 1]  # a vector, not a table


class SlowClassifier(_Base):
    def predict_proba(self, X):
        time.sleep(3.0)
        return self._good(X)


class NoProbaClassifier:
    classes_ = CLASSES

    def predict(self, X):
        return np.full(len(X), "no", dtype=object)


class MarkerSlowClassifier(_Base):
    """Touches the file named by ``$HOSTILE_MARKER`` when first asked for probabilities, then takes
    a minute: a test interrupts the audit while this check runs."""

    def predict_proba(self, X):
        import os
        from pathlib import Path

        Path(os.environ["HOSTILE_MARKER"]).touch()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.05)
        return self._good(X)


class SigtermClassifier(_Base):
    """Sends SIGTERM to its own process when asked for probabilities, as a cancelled CI job would."""

    def predict_proba(self, X):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the Terminated exception arrives here
        return self._good(X)


class SigintClassifier(_Base):
    """Sends SIGINT to its own process when asked for probabilities, as Ctrl-C during a check would."""

    def predict_proba(self, X):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the KeyboardInterrupt arrives here
        return self._good(X)
