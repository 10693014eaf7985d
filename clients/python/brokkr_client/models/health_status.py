from enum import StrEnum


class HealthStatus(StrEnum):
    DEGRADED = "degraded"
    FAILING = "failing"
    HEALTHY = "healthy"
    UNKNOWN = "unknown"

    def __str__(self) -> str:
        return str(self.value)
