"""The model provider that graph builders receive: settings read on first use, never at creation."""

from __future__ import annotations

import pytest

from autodata.llm.models import ModelProvider
from autodata.llm.settings import ConfigError


def test_a_provider_from_the_environment_reads_its_settings_on_first_use(tmp_path):
    config = tmp_path / "autodata.toml"
    provider = ModelProvider.from_environment(config)  # no file yet: creating the provider reads nothing
    config.write_text('[roles.judge]\nmodel = "judge-from-the-file"\nbase_url = "http://127.0.0.1:9/v1"\n')
    assert provider.model_name("judge") == "judge-from-the-file"
    config.write_text('[roles.judge]\nmodel = "changed-later"\n')
    assert provider.model_name("judge") == "judge-from-the-file"  # read once, then kept


def test_a_broken_config_fails_at_the_first_model_use_not_when_the_graph_is_built(tmp_path):
    config = tmp_path / "autodata.toml"
    config.write_text("this is not toml [")
    provider = ModelProvider.from_environment(config)
    with pytest.raises(ConfigError, match="not valid TOML"):
        provider.config("challenger")
