"""The one exception tree of evalaction.

    EvalActionError                 base; only the CLI and the entrypoint catch it
    ├── BadInput                    the user can fix it (exit code 2)
    │   ├── InvalidPlan             evalaction.yml is wrong (file, line, field, expected, found, fix)
    │   ├── InvalidDataset          the test set is unreadable or inconsistent
    │   ├── CannotLoadModel         a model file is missing, truncated, of the wrong format, or unsafe
    │   │   ├── LfsPointerInsteadOfWeights
    │   │   └── UnsafeModelFormat   pickle-based weights without `allow_pickle: true`
    │   ├── ModelOutputInvalid      NaN/inf, wrong shape, probabilities that do not sum to one
    │   ├── InvalidStatisticInput   arrays handed to evalaction.stats do not fit the test asked for
    │   └── InvalidEvent            the GitHub event or action inputs are not usable
    └── ExternalServiceError        a network service failed (GitHub, Modal, Roboflow, W&B) (exit code 3)
        ├── CannotPostComment
        ├── CannotDownloadDataset   a Roboflow download failed or ran past its deadline
        └── ModalUnavailable        Modal unreachable, unauthenticated, or a shard failed

Every message is one line: what was expected, what was found, and the fix. Messages never contain secrets.
"""

from __future__ import annotations


class EvalActionError(Exception):
    """Base of every error evalaction raises on purpose."""

    exit_code = 3


class BadInput(EvalActionError):
    """Input the user can fix: a plan, a dataset, a model, an event."""

    exit_code = 2


class InvalidPlan(BadInput):
    """The evaluation plan does not validate."""


class InvalidDataset(BadInput):
    """The test set cannot be read or is inconsistent with the plan."""


class CannotLoadModel(BadInput):
    """A model file cannot be loaded."""


class LfsPointerInsteadOfWeights(CannotLoadModel):
    """A Git LFS pointer file stands where the weights should be."""


class UnsafeModelFormat(CannotLoadModel):
    """A pickle-based format that the plan does not allow."""


class ModelOutputInvalid(BadInput):
    """A model produced outputs that cannot be evaluated."""


class InvalidStatisticInput(BadInput):
    """Inputs to a statistical test are inconsistent (lengths, labels, levels, margins)."""


class InvalidEvent(BadInput):
    """The GitHub event or the action's inputs cannot be used."""


class ExternalServiceError(EvalActionError):
    """A network service failed; the message names the service and the call, never a secret."""

    exit_code = 3


class CannotPostComment(ExternalServiceError):
    """The PR comment could not be created or updated."""


class CannotDownloadDataset(ExternalServiceError):
    """A dataset download (Roboflow) failed or ran past its deadline; the message never holds the API key."""


class ModalUnavailable(ExternalServiceError):
    """Modal could not be reached or authenticated, or a remote shard failed."""
