from enum import StrEnum


class ActorKind(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    GENERATOR = "generator"
    SYSTEM = "system"

    def __str__(self) -> str:
        return str(self.value)
