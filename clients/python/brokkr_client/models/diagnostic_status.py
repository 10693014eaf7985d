from enum import StrEnum


class DiagnosticStatus(StrEnum):
    CLAIMED = "claimed"
    COMPLETED = "completed"
    EXPIRED = "expired"
    FAILED = "failed"
    PENDING = "pending"

    def __str__(self) -> str:
        return str(self.value)
