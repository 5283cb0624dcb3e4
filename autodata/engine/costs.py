"""What a run costs: each role's tokens priced under its `price_*` settings (USD per million tokens).

Prompt tokens the server read from its prefix cache are billed at `price_cached_input` (at `price_input` when
that is unset: most self-hosted servers do not discount them), the rest of the prompt at `price_input`, the
completion at `price_output`. A price that is not set is unknown, and so is every cost that needs it: None,
never a 0 that looks like a free run. A role that made no call costs 0 whatever its prices; one that made
calls without prices is unknown even when the server reported no tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from autodata.llm.settings import RoleConfig, Settings
from autodata.state.schemas import RoleUsage

TOKENS_PER_PRICE_UNIT = 1_000_000
UsageByRole = Mapping[str, RoleUsage | Mapping[str, Any]]  # from the state, or from a row's JSON


@dataclass(frozen=True)
class Prices:
    """USD per million tokens; None = unknown."""

    input: float | None = None
    cached_input: float | None = None
    output: float | None = None

    @classmethod
    def of(cls, role: RoleConfig | Mapping[str, Any]) -> Prices:
        """A role's prices, from its settings or from their record in config.json."""
        values = role.model_dump() if isinstance(role, RoleConfig) else role
        return cls(values.get("price_input"), values.get("price_cached_input"), values.get("price_output"))

    @property
    def cached_or_input(self) -> float | None:
        return self.cached_input if self.cached_input is not None else self.input


def as_usage(usage: RoleUsage | Mapping[str, Any]) -> RoleUsage:
    """A role's usage from the state or from a row's JSON (older rows lack `cached_prompt_tokens`)."""
    return usage if isinstance(usage, RoleUsage) else RoleUsage.model_validate(usage)


def usage_cost(usage: RoleUsage | Mapping[str, Any], prices: Prices) -> float | None:
    """USD for one role's usage; None when a price it needs is unknown."""
    usage = as_usage(usage)
    cached = min(usage.cached_prompt_tokens, usage.prompt_tokens)
    billed = [
        (usage.prompt_tokens - cached, prices.input),
        (cached, prices.cached_or_input),
        (usage.completion_tokens, prices.output),
    ]
    if any(tokens and price is None for tokens, price in billed):
        return None
    if usage.calls and not usage.prompt_tokens and (prices.input is None or prices.output is None):
        return None  # calls whose tokens the server did not report still cost something, at an unknown price
    return sum(tokens * price for tokens, price in billed if tokens) / TOKENS_PER_PRICE_UNIT


def role_prices(settings: Settings) -> dict[str, Prices]:
    return {role: Prices.of(cfg) for role, cfg in settings.roles.items()}


def role_costs(usage: UsageByRole, prices: Mapping[str, Prices]) -> dict[str, float | None]:
    """USD per role that used the endpoint (a role without prices costs None)."""
    return {role: usage_cost(used, prices.get(role, Prices())) for role, used in usage.items()}


def sum_known(costs: Iterable[float | None]) -> float | None:
    """The total, or None when any part is unknown."""
    total = 0.0
    for cost in costs:
        if cost is None:
            return None
        total += cost
    return total


def share(total: float | None, count: int) -> float | None:
    """`total` per one of `count` (None when unknown or nothing to divide by)."""
    return None if total is None or count <= 0 else total / count


def total_tokens(usage: UsageByRole) -> int:
    """Prompt and completion tokens of every role (what `--max-tokens` counts)."""
    return sum(as_usage(used).prompt_tokens + as_usage(used).completion_tokens for used in usage.values())


@dataclass(frozen=True)
class RunCost:
    """A run's cost: per role, in all, per finished document and per accepted item (USD; None = unknown)."""

    roles: dict[str, float | None]
    total: float | None
    per_document: float | None
    per_accepted_item: float | None

    def as_dict(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 6)

        return {
            "currency": "USD",
            "roles": {role: rounded(cost) for role, cost in self.roles.items()},
            "total": rounded(self.total),
            "per_document": rounded(self.per_document),
            "per_accepted_item": rounded(self.per_accepted_item),
        }


def run_cost(usage: UsageByRole, prices: Mapping[str, Prices], documents: int, accepted: int) -> RunCost:
    roles = role_costs(usage, prices)
    total = sum_known(roles.values())
    return RunCost(roles, total, share(total, documents), share(total, accepted))


@dataclass(frozen=True)
class Budget:
    """`generate --max-cost USD` / `--max-tokens N`: what a run directory may spend, every run of it together."""

    max_cost: float | None = None
    max_tokens: int | None = None

    @property
    def is_set(self) -> bool:
        return self.max_cost is not None or self.max_tokens is not None

    def unpriced_roles(self, prices: Mapping[str, Prices]) -> list[str]:
        """Roles whose spending `--max-cost` cannot count (a price it needs is unknown)."""
        if self.max_cost is None:
            return []
        return [role for role, price in prices.items() if price.input is None or price.output is None]

    def describe(self) -> str:
        limits = [f"--max-cost ${self.max_cost:g}" if self.max_cost is not None else "",
                  f"--max-tokens {self.max_tokens:,}" if self.max_tokens is not None else ""]  # fmt: skip
        return " and ".join(limit for limit in limits if limit)


@dataclass(frozen=True)
class Spend:
    """What the documents counted so far used (finished and failed ones: those whose usage is known)."""

    cost: float | None
    tokens: int
    documents: int

    def describe(self) -> str:
        cost = "an unknown amount" if self.cost is None else f"${self.cost:.4f}"
        return f"{cost} ({self.tokens:,} tokens) on {self.documents} document(s)"


def spend(usage: UsageByRole, prices: Mapping[str, Prices], documents: int) -> Spend:
    return Spend(sum_known(role_costs(usage, prices).values()), total_tokens(usage), documents)


def allows_another(budget: Budget, spent: Spend, in_flight: int) -> bool:
    """Whether one more document is expected to stay within `budget`: what is spent, plus the mean of the
    documents counted so far for each one in flight and the new one (nothing to go on before the first)."""
    for limit, used in ((budget.max_cost, spent.cost), (budget.max_tokens, spent.tokens)):
        if limit is None:
            continue
        used = used or 0
        mean = used / spent.documents if spent.documents else 0.0
        if used >= limit or used + mean * (in_flight + 1) > limit:  # a budget of 0 starts nothing
            return False
    return True
