"""The environment variables evalaction reads besides GitHub's: one typed, frozen model, read in one place.

    ROBOFLOW_API_KEY     the key for a plan's `dataset.roboflow` (secret)
    EVALACTION_CACHE     where downloaded test sets are cached (default ~/.cache/evalaction)
    MODAL_TOKEN_ID       with MODAL_TOKEN_SECRET, the token for a plan's `inference.modal`
    MODAL_TOKEN_SECRET   (secret)
    MODAL_SERVER_URL     the Modal server (default Modal's own)
    MODAL_CONFIG_PATH    with MODAL_PROFILE, where Modal's client finds a token when the variables are unset
    MODAL_PROFILE        (`ModalCredentials.from_environ` resolves them as Modal's client does)

The CLI (`evalaction.cli`) and the action (`evalaction.github.action`, whose inputs and GITHUB_* variables are
`evalaction.github.settings.Settings`) build it with `ServiceEnvironment.from_env`; the stages receive what it
builds (`DataSources`, `ModalCredentials`) and never read the environment. As in pydantic-settings, empty strings
count as unset and secrets are `SecretStr`: printing the model shows `**********`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, SecretStr

if TYPE_CHECKING:
    from evalaction.datasets.sources import DataSources
    from evalaction.runners.modal import ModalCredentials

# field -> variable; the names appear once
ENV_NAMES = {
    "roboflow_api_key": "ROBOFLOW_API_KEY",
    "cache_dir": "EVALACTION_CACHE",
    "modal_token_id": "MODAL_TOKEN_ID",
    "modal_token_secret": "MODAL_TOKEN_SECRET",
    "modal_server_url": "MODAL_SERVER_URL",
    "modal_config_path": "MODAL_CONFIG_PATH",
    "modal_profile": "MODAL_PROFILE",
}


class ServiceEnvironment(BaseModel):
    """Credentials and the cache folder for the external services a plan may use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    roboflow_api_key: SecretStr | None = None
    cache_dir: Path | None = None
    modal_token_id: str | None = None
    modal_token_secret: SecretStr | None = None
    modal_server_url: str | None = None
    modal_config_path: str | None = None
    modal_profile: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServiceEnvironment:
        """Read the variables above from `env` (os.environ, or a dict in tests); blank values are unset."""
        values = {field: env.get(name, "").strip() for field, name in ENV_NAMES.items()}
        return cls.model_validate({k: v for k, v in values.items() if v})

    def data_sources(self, *, debug: bool = False) -> DataSources:
        """What the dataset readers need: the Roboflow key and the download cache."""
        from evalaction.datasets.sources import DataSources, default_cache_dir

        cache = self.cache_dir.expanduser() if self.cache_dir is not None else default_cache_dir()
        return DataSources(roboflow_api_key=self.roboflow_api_key, cache_dir=cache, debug=debug)

    def modal_credentials(self, *, home: Path | None = None) -> ModalCredentials | None:
        """The Modal token as Modal's client finds it (these variables, else the config file's active profile);
        None without one."""
        from evalaction.runners.modal import ModalCredentials

        secret = self.modal_token_secret.get_secret_value() if self.modal_token_secret else None
        variables = {
            "MODAL_TOKEN_ID": self.modal_token_id,
            "MODAL_TOKEN_SECRET": secret,
            "MODAL_SERVER_URL": self.modal_server_url,
            "MODAL_CONFIG_PATH": self.modal_config_path,
            "MODAL_PROFILE": self.modal_profile,
        }
        return ModalCredentials.from_environ({k: v for k, v in variables.items() if v}, home=home)
