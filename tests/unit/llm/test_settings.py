from pathlib import Path

import pytest

from autodata.llm.settings import ConfigError, load_settings
from autodata.tasks import task_sections


def test_nothing_configured_means_every_role_is_embedded():
    settings = load_settings(env={})
    assert settings.uses_embedded
    assert all(settings.role(r).is_embedded for r in settings.roles)
    # Weak and strong differ by inference budget only, and say so.
    assert settings.role("strong").reasoning and not settings.role("weak").reasoning
    assert settings.role("strong").max_tokens > settings.role("weak").max_tokens


def test_environment_points_one_role_at_an_endpoint():
    env = {
        "AUTODATA_STRONG_MODEL": "Qwen/Qwen3-8B",
        "AUTODATA_STRONG_BASE_URL": "http://localhost:8000/v1",
        "AUTODATA_STRONG_API_KEY": "sk-strong",
        "AUTODATA_STRONG_STRUCTURED_METHOD": "json_schema",
    }
    settings = load_settings(env=env)
    strong = settings.role("strong")
    assert (strong.model, strong.base_url, strong.structured_method) == (
        "Qwen/Qwen3-8B", "http://localhost:8000/v1", "json_schema",
    )  # fmt: skip
    assert strong.api_key.get_secret_value() == "sk-strong"
    assert settings.role("weak").is_embedded


def test_toml_defaults_roles_and_env_precedence(tmp_path: Path):
    config = tmp_path / "autodata.toml"
    config.write_text(
        """
[defaults]
model = "gpt-4o-mini"
base_url = "https://api.example.com/v1"
api_key_env = "MY_KEY"

[roles.weak]
model = "small-model"
temperature = 1.2

[policy]
strong_min_avg = 0.7

[legal]
capability_tags = false
"""
    )
    settings = load_settings(config, env={"MY_KEY": "sk-file", "AUTODATA_JUDGE_MODEL": "judge-model"},
                             sections=task_sections())  # fmt: skip
    assert settings.role("challenger").model == "gpt-4o-mini"
    assert settings.role("challenger").api_key.get_secret_value() == "sk-file"
    assert settings.role("weak").model == "small-model" and settings.role("weak").temperature == 1.2
    assert settings.role("judge").model == "judge-model"
    assert settings.policy == {"strong_min_avg": 0.7}
    assert settings.graph_settings == {"legal": {"capability_tags": False}}  # the legal task's section


def test_openai_key_is_used_for_remote_roles_and_never_in_public_config():
    settings = load_settings(env={"AUTODATA_MODEL": "gpt-4o-mini", "OPENAI_API_KEY": "sk-secret-123"})
    assert settings.role("judge").api_key.get_secret_value() == "sk-secret-123"
    assert "sk-secret-123" not in str(settings.public_dict())
    assert settings.public_dict()["roles"]["judge"]["api_key_set"] is True


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("[roles.wizard]\nmodel='x'", {}, "unknown role"),
        ("[nonsense]\n", {}, "unknown section"),
        ("[defaults]\napi_key_env='MISSING_KEY'", {}, "MISSING_KEY"),
        ("[policy]\nstrong_min_avgg = 0.7", {}, "[policy]"),
        ("[science]\ncandidates = 9", {}, "[science]"),
        ("[science]\nsamples = 2", {}, "unknown key"),
        ("[legal]\nweight_rangez = false", {}, "[legal]"),
        ("not = [valid", {}, "not valid TOML"),
        ("", {"AUTODATA_MODEL": "gpt-4o"}, "neither a base_url nor an API key"),
    ],
)
def test_bad_configuration_gets_a_clear_error(tmp_path: Path, toml: str, env: dict, message: str):
    config = tmp_path / "autodata.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_settings(config, env=env, sections=task_sections())


def test_missing_config_file_is_reported(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", env={})


def test_token_budget_reaches_servers_that_ignore_max_completion_tokens():
    from langchain_core.messages import HumanMessage

    from autodata.llm.models import ModelProvider

    settings = load_settings(env={"AUTODATA_MODEL": "m", "AUTODATA_BASE_URL": "http://127.0.0.1:9/v1",
                                  "AUTODATA_WEAK_MAX_TOKENS": "77"})  # fmt: skip
    body = ModelProvider(settings).chat_model("weak").request_body([HumanMessage("hi")])
    assert body["max_tokens"] == 77 and "max_completion_tokens" not in body
    openai = load_settings(env={"AUTODATA_MODEL": "gpt-4o-mini", "OPENAI_API_KEY": "sk-x"})
    weak = ModelProvider(openai).chat_model("weak")
    body = weak.request_body([HumanMessage("hi")])
    assert body["max_completion_tokens"] == openai.role("weak").max_tokens and "max_tokens" not in body
    assert weak.base_url == "https://api.openai.com/v1"


def test_the_langchain_openai_client_can_be_chosen_per_role():
    from langchain_openai import ChatOpenAI

    from autodata.llm.models import ModelProvider

    env = {"AUTODATA_MODEL": "m", "AUTODATA_BASE_URL": "http://127.0.0.1:9/v1", "AUTODATA_JUDGE_CLIENT": "langchain-openai",
           "AUTODATA_WEAK_MAX_TOKENS": "77", "AUTODATA_JUDGE_MAX_TOKENS": "77"}  # fmt: skip
    provider = ModelProvider(load_settings(env=env))
    judge = provider.chat_model("judge")
    assert isinstance(judge, ChatOpenAI) and judge.max_retries == 0, "transport retries are autodata's, not the SDK's"
    # extra_body is merged into the request JSON by the OpenAI client: the server sees "max_tokens": 77.
    assert judge._get_request_payload([("user", "hi")])["extra_body"] == {"max_tokens": 77}
    assert not isinstance(provider.chat_model("weak"), ChatOpenAI)


def test_the_science_section_holds_the_science_graphs_own_knobs(tmp_path: Path):
    config = tmp_path / "autodata.toml"
    config.write_text("[science]\ncandidates = 3\nevaluate_top = 1\n")
    settings = load_settings(config, env={}, sections=task_sections())
    assert settings.graph_settings == {"science": {"candidates": 3, "evaluate_top": 1}}
    assert load_settings(None, env={}).graph_settings == {}
    # Read without the tasks' sections (a served graph's settings), a task section is kept as written.
    config.write_text("[science]\ncandidates = 9\n")
    assert load_settings(config, env={}).graph_settings == {"science": {"candidates": 9}}
