from enum import StrEnum


class AgentEventStatus(StrEnum):
    FAILURE = "FAILURE"
    SUCCESS = "SUCCESS"

    def __str__(self) -> str:
        return str(self.value)
