"""Cost per role, per document and per accepted item (autodata.engine.costs), and cached prompt tokens as each
client and server family reports them."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage

from autodata.engine.costs import Budget, Prices, Spend, allows_another, run_cost, total_tokens, usage_cost
from autodata.llm.models import _count_tokens
from autodata.llm.openai_compat import parse_completion
from autodata.llm.settings import load_settings
from autodata.state.schemas import RoleUsage
from autodata.state.self_instruct import merge_usage

URL = "http://127.0.0.1:9/v1/chat/completions"

# Hand-computed (USD per million tokens):
#   challenger: 400k fresh x 2.00 + 800k cached x 0.50 + 50k out x 8.00 = 0.80 + 0.40 + 0.40 = 1.600
#   judge:      300k fresh x 0.10 +   0 cached         + 20k out x 0.40 = 0.03 + 0.008       = 0.038
#   weak:        40k fresh x 1.00 +  60k cached x 1.00 (no cached price: the input price)
#                                                      + 10k out x 2.00 = 0.04 + 0.06 + 0.02 = 0.120
#   total 1.758; 4 finished documents: 0.4395 each; 3 accepted items: 0.586 each.
USAGE = {
    "challenger": RoleUsage(calls=12, prompt_tokens=1_200_000, cached_prompt_tokens=800_000, completion_tokens=50_000),
    "judge": RoleUsage(calls=40, prompt_tokens=300_000, completion_tokens=20_000),
    "weak": RoleUsage(calls=16, prompt_tokens=100_000, cached_prompt_tokens=60_000, completion_tokens=10_000),
    "orchestrator": RoleUsage(),
}
PRICES = {
    "challenger": Prices(input=2.0, cached_input=0.5, output=8.0),
    "judge": Prices(input=0.1, output=0.4),
    "weak": Prices(input=1.0, output=2.0),
}


def test_cost_per_role_document_and_accepted_item_match_the_hand_computed_figures():
    cost = run_cost(USAGE, PRICES, documents=4, accepted=3)
    assert cost.roles["challenger"] == pytest.approx(1.6)
    assert cost.roles["judge"] == pytest.approx(0.038)
    assert cost.roles["weak"] == pytest.approx(0.12)
    assert cost.roles["orchestrator"] == 0.0  # no tokens: nothing to pay, prices or not
    assert cost.total == pytest.approx(1.758)
    assert cost.per_document == pytest.approx(0.4395)
    assert cost.per_accepted_item == pytest.approx(0.586)
    assert cost.as_dict()["per_accepted_item"] == 0.586 and cost.as_dict()["currency"] == "USD"


def test_an_unknown_price_makes_the_cost_unknown_not_zero():
    strong = RoleUsage(calls=1, prompt_tokens=10, completion_tokens=10)
    assert usage_cost(strong, Prices()) is None
    assert usage_cost(strong, Prices(input=1.0)) is None  # the output price is missing
    cost = run_cost({**USAGE, "strong": strong}, PRICES, documents=4, accepted=3)
    assert cost.roles["judge"] == pytest.approx(0.038) and cost.roles["strong"] is None
    assert cost.total is None and cost.per_document is None and cost.per_accepted_item is None


def test_no_accepted_item_has_no_cost_per_item():
    cost = run_cost(USAGE, PRICES, documents=4, accepted=0)
    assert cost.per_accepted_item is None and cost.per_document == pytest.approx(0.4395)


def test_usage_from_an_older_row_without_cached_tokens_is_priced_as_fresh_prompt():
    row = {"calls": 1, "failures": 0, "prompt_tokens": 1_000_000, "completion_tokens": 0}
    assert usage_cost(row, Prices(input=3.0, cached_input=0.3)) == pytest.approx(3.0)
    assert total_tokens({"judge": row, "weak": USAGE["weak"]}) == 1_000_000 + 110_000


def test_prices_come_from_the_toml_and_the_environment(tmp_path):
    config = tmp_path / "autodata.toml"
    config.write_text('[defaults]\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\nprice_input = 0.15\n'
                      'price_output = 0.6\n[roles.challenger]\nprice_cached_input = 0.075\n')  # fmt: skip
    settings = load_settings(config, env={"AUTODATA_JUDGE_PRICE_OUTPUT": "0.5"})
    assert Prices.of(settings.role("challenger")) == Prices(input=0.15, cached_input=0.075, output=0.6)
    assert Prices.of(settings.role("judge")) == Prices(input=0.15, cached_input=None, output=0.5)
    assert settings.public_dict()["roles"]["weak"]["price_output"] == 0.6  # recorded in config.json
    assert Prices.of(settings.public_dict()["roles"]["challenger"]) == Prices.of(settings.role("challenger"))


def _completion(usage: dict) -> bytes:
    choice = {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    return json.dumps({"id": "c1", "model": "m", "choices": [choice], "usage": usage}).encode()


@pytest.mark.parametrize(
    "reported",
    [
        {"prompt_tokens_details": {"cached_tokens": 96}},  # OpenAI, vLLM, SGLang
        {"cache_read_input_tokens": 96},  # Anthropic-style
        {"prompt_cache_hit_tokens": 96, "prompt_cache_miss_tokens": 32},  # DeepSeek
    ],
)
def test_the_lean_client_reads_cached_tokens_of_every_server_family(reported):
    body = _completion({"prompt_tokens": 128, "completion_tokens": 4, "total_tokens": 132, **reported})
    message = parse_completion(body, URL).generations[0].message
    assert message.usage_metadata["input_token_details"] == {"cache_read": 96}
    usage = RoleUsage()
    _count_tokens(usage, message)
    assert (usage.prompt_tokens, usage.cached_prompt_tokens, usage.completion_tokens) == (128, 96, 4)


def test_a_reply_that_says_nothing_about_caching_counts_no_cached_tokens():
    message = parse_completion(_completion({"prompt_tokens": 5, "completion_tokens": 2}), URL).generations[0].message
    assert "input_token_details" not in message.usage_metadata and message.usage_metadata["total_tokens"] == 7
    usage = RoleUsage()
    _count_tokens(usage, message)
    assert usage.cached_prompt_tokens == 0 and usage.prompt_tokens == 5


def test_chat_openai_style_replies_count_service_tier_and_raw_deepseek_cache_reads():
    tier_details = {"priority_cache_read": 32, "priority": 18}
    priority = AIMessage("a", usage_metadata={"input_tokens": 50, "output_tokens": 1, "total_tokens": 51,
                                              "input_token_details": tier_details})  # fmt: skip
    raw = {"prompt_tokens": 40, "prompt_cache_hit_tokens": 24}
    deepseek = AIMessage("b", usage_metadata={"input_tokens": 40, "output_tokens": 1, "total_tokens": 41},
                         response_metadata={"token_usage": raw})  # fmt: skip
    usage = RoleUsage()
    for message in (priority, deepseek):
        _count_tokens(usage, message)
    assert (usage.prompt_tokens, usage.cached_prompt_tokens) == (90, 56)


def test_cached_tokens_add_up_per_role():
    first = {"judge": RoleUsage(calls=1, prompt_tokens=100, cached_prompt_tokens=0)}
    second = {"judge": RoleUsage(calls=1, prompt_tokens=100, cached_prompt_tokens=80), "weak": RoleUsage(calls=1)}
    merged = merge_usage(merge_usage({}, first), second)
    assert merged["judge"].cached_prompt_tokens == 80 and merged["judge"].prompt_tokens == 200
    assert merged["judge"].model_dump()["cached_prompt_tokens"] == 80


def test_a_budget_admits_a_document_while_the_projected_spend_fits():
    budget = Budget(max_cost=1.0)
    spent = Spend(cost=0.40, tokens=4_000, documents=4)  # 0.10 per document so far
    assert allows_another(budget, spent, in_flight=4)  # 0.40 + 5 x 0.10 = 0.90
    assert not allows_another(budget, spent, in_flight=6)  # 0.40 + 7 x 0.10 = 1.10
    assert allows_another(budget, Spend(cost=0.0, tokens=0, documents=0), in_flight=8)  # nothing to go on yet
    assert not allows_another(Budget(max_cost=0), Spend(cost=0.0, tokens=0, documents=0), in_flight=0)
    assert allows_another(Budget(max_tokens=5_000), spent, in_flight=0)  # 4,000 + 1,000 reaches it, no more
    assert not allows_another(Budget(max_tokens=4_999), spent, in_flight=0)


def test_a_cost_budget_needs_input_and_output_prices():
    prices = {"judge": Prices(input=1.0, output=2.0), "weak": Prices(input=1.0), "strong": Prices()}
    assert Budget(max_cost=5).unpriced_roles(prices) == ["weak", "strong"]
    assert Budget(max_tokens=5).unpriced_roles(prices) == []
    assert Budget(max_cost=5, max_tokens=1000).describe() == "--max-cost $5 and --max-tokens 1,000"
