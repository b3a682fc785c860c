"""What the dataset readers need from outside the plan: the Roboflow API key and the download cache.

Only the CLI and the action's entrypoint build this from the environment (`evalaction.environment`); the
stages receive it. The key is a pydantic `SecretStr`, so printing or logging a `DataSources` shows `**********`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "evalaction"


class DataSources(BaseModel):
    """Credentials and cache location for remote test sets."""

    model_config = ConfigDict(frozen=True)

    roboflow_api_key: SecretStr | None = None
    cache_dir: Path = Field(default_factory=default_cache_dir)
    debug: bool = Field(default=False, description="Log the download client's HTTP traffic (keys redacted).")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, debug: bool = False) -> DataSources:
        """`ROBOFLOW_API_KEY` and `EVALACTION_CACHE` (default ~/.cache/evalaction), read by the one environment
        model (`evalaction.environment.ServiceEnvironment`); empty strings are ignored."""
        from evalaction.environment import ServiceEnvironment

        return ServiceEnvironment.from_env(environ).data_sources(debug=debug)
