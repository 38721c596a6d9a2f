"""Domain errors. A function that raises one fails its invocation on purpose: Lambda
retries it and finally routes the record to OnFailure, where the error's class name is
the record's `errorType`. The names therefore say what is wrong."""


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""


class ConfigurationError(PipelineError):
    """The function's environment is incomplete."""


class InvalidEventError(PipelineError):
    """The event is not what the stage is wired to receive."""


class UploadError(PipelineError):
    """An upload failed the upload stage's checks."""


class UploadNotFoundError(UploadError):
    """The object (or the version) named by the notification no longer exists."""


class EmptyUploadError(UploadError):
    """The object has no content."""


class UploadTooLargeError(UploadError):
    """The object is larger than MAX_UPLOAD_BYTES."""


class UnsupportedFormatError(UploadError):
    """Neither the key's extension nor the content type names a supported format."""


class ProcessingError(PipelineError):
    """An accepted upload failed processing."""


class UnparsableUploadError(ProcessingError):
    """The file cannot be read as a batch of orders (header, JSON structure, encoding)."""


class EmptyBatchError(ProcessingError):
    """The file parses but holds no order rows."""


class TooManyRejectedRowsError(ProcessingError):
    """The share of invalid rows is above REJECTION_THRESHOLD."""
