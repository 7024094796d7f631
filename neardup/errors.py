"""Every exception neardup raises on purpose, in one place (as rq's exceptions.py): catch them by name."""


class NeardupError(Exception):
    """The base of neardup's own exceptions."""


class DecodeError(NeardupError):
    """An image that cannot be used; the message is the one-line reason users see."""


class PathNotAllowed(NeardupError):
    """A path outside the configured image roots (or no roots configured); the message says which setting."""


class NoImages(NeardupError, ValueError):
    """Folders that hold no image file were submitted: said at once, not queued as an empty batch."""


class InvalidCollectionName(NeardupError, ValueError):
    """A collection name that could escape the data directory or break a path; the message says the rule."""


class OutOfTime(NeardupError):
    """The embed step's deadline passed while files were still being read or decoded."""


class StaleIndex(NeardupError):
    """Another writer committed to this collection after we read it: search again."""


class LockBusy(NeardupError):
    """Another worker is writing this collection's index: the task is retried later, not left waiting."""


class ModelUnavailable(NeardupError, LookupError):
    """A model version no file holds any more (an upgrade replaced a shipped model) or never registered; the
    message says how to move the collections indexed with it on."""


class ModelMismatch(NeardupError, ValueError):
    """A scan asked for another model than the one its collection is indexed with."""
