"""Errors the facade raises. Each carries the HTTP code the REST API answers with,
so the CLI, the app and the API all report the same clear message."""


class CloudError(Exception):
    code = 500
    title = "Internal Server Error"

    def __init__(self, message: str, details: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(CloudError):
    code, title = 400, "Bad Request"


class Unauthorized(CloudError):
    code, title = 401, "Unauthorized"


class Forbidden(CloudError):
    code, title = 403, "Forbidden"


class NotFound(CloudError):
    code, title = 404, "Not Found"


class Conflict(CloudError):
    code, title = 409, "Conflict"


class OverLimit(CloudError):
    # nova answers quota exhaustion with 403 "Quota exceeded"; too-large bodies are 413
    code, title = 403, "Forbidden"


class OverQuota(CloudError):
    # neutron answers quota exhaustion with 409 and the error type OverQuota
    code, title = 409, "Conflict"
    error_type = "OverQuota"


class RequestTooLarge(CloudError):
    code, title = 413, "Request Entity Too Large"


class AlreadyRunning(CloudError):
    code, title = 409, "Conflict"
