from enum import StrEnum


class WorkOrderStatus(StrEnum):
    CLAIMED = "CLAIMED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    PENDING = "PENDING"
    RETRY_PENDING = "RETRY_PENDING"

    def __str__(self) -> str:
        return str(self.value)
