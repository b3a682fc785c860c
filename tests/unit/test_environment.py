"""The one environment model for external services: what it reads, what it ignores, what it never prints."""

from __future__ import annotations

from pathlib import Path

from evalaction.environment import ServiceEnvironment

ENV = {
    "ROBOFLOW_API_KEY": " rf-key-123 ",
    "EVALACTION_CACHE": "~/cache-here",
    "MODAL_TOKEN_ID": "ak-id",
    "MODAL_TOKEN_SECRET": "as-secret-456",
    "UNRELATED": "x",
}


def test_reads_each_variable_once_and_builds_what_the_stages_receive(tmp_path: Path) -> None:
    environment = ServiceEnvironment.from_env({**ENV, "MODAL_SERVER_URL": "http://127.0.0.1:9"})
    sources = environment.data_sources(debug=True)
    assert sources.roboflow_api_key is not None and sources.roboflow_api_key.get_secret_value() == "rf-key-123"
    assert sources.cache_dir == Path("~/cache-here").expanduser() and sources.debug
    modal = environment.modal_credentials(home=tmp_path)
    assert modal is not None and (modal.token_id, modal.token_secret) == ("ak-id", "as-secret-456")
    assert modal.server_url == "http://127.0.0.1:9"


def test_blank_values_are_unset_and_a_half_token_is_none(tmp_path: Path) -> None:
    environment = ServiceEnvironment.from_env({"ROBOFLOW_API_KEY": "  ", "MODAL_TOKEN_ID": "ak-id"})
    assert environment.roboflow_api_key is None
    assert environment.modal_credentials(home=tmp_path) is None  # no ~/.modal.toml there to complete it
    assert environment.data_sources().cache_dir == Path.home() / ".cache" / "evalaction"


def test_the_modal_config_file_is_found_as_modals_client_finds_it(tmp_path: Path) -> None:
    config = tmp_path / "modal.toml"
    config.write_text('[work]\ntoken_id = "ak-file"\ntoken_secret = "as-file"\nactive = true\n')
    modal = ServiceEnvironment.from_env({"MODAL_CONFIG_PATH": str(config)}).modal_credentials(home=tmp_path)
    assert modal is not None and (modal.token_id, modal.token_secret) == ("ak-file", "as-file")
    assert modal.origin == f"profile [work] of {config}"


def test_secrets_never_print(tmp_path: Path) -> None:
    environment = ServiceEnvironment.from_env(ENV)
    for text in (repr(environment), str(environment), environment.model_dump_json()):
        assert "rf-key-123" not in text and "as-secret-456" not in text
    assert "as-secret-456" not in repr(environment.modal_credentials(home=tmp_path))
