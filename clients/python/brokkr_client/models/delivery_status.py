from enum import StrEnum


class DeliveryStatus(StrEnum):
    ACQUIRED = "acquired"
    DEAD = "dead"
    FAILED = "failed"
    PENDING = "pending"
    SUCCESS = "success"

    def __str__(self) -> str:
        return str(self.value)
