from enum import StrEnum


class TemplateRolloutStackStatus(StrEnum):
    FAILED = "failed"
    INVALID_PARAMETERS = "invalid_parameters"
    PENDING = "pending"
    RENDERED = "rendered"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return str(self.value)
