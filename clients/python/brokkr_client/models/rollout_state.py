from enum import StrEnum


class RolloutState(StrEnum):
    APPLIED = "applied"
    FAILED = "failed"
    PENDING = "pending"

    def __str__(self) -> str:
        return str(self.value)
