"""config.py (parse_config, load_config) and `relaygate check`, which must fail clearly and never print a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from relaygate.config import Timeout, load_config, parse_config
from relaygate.errors import ConfigError

DEEPSEEK_KEY = "sk-ds-3f9a1c7e5b2d4086a8e1f0c9b7d6e5a4"
DASHSCOPE_KEY = "sk-ali-8b2e6d4f0a1c3e5b7d9f1a2c4e6b8d0f"
LITERAL_KEY = "sk-proj-Lit3ralK3yInTheF1le-0123456789"
ADMIN_KEY = "rg-admin-Vq7mW2xK9pL4sN8t"
ENV = {"DEEPSEEK_API_KEY": DEEPSEEK_KEY, "DASHSCOPE_API_KEY": DASHSCOPE_KEY, "RELAYGATE_ADMIN_KEY": ADMIN_KEY}
SECRETS = (DEEPSEEK_KEY, DASHSCOPE_KEY, LITERAL_KEY, ADMIN_KEY)


def leaks(text: str) -> list[str]:
    """The secrets of which any ten characters in a row appear in text (a cut key is still a leak)."""
    return [s for s in SECRETS if any(s[i : i + 10] in text for i in range(len(s) - 9))]


def base() -> dict[str, Any]:
    return {
        "database": "sqlite:///./relaygate.db",
        "admin_key": "${RELAYGATE_ADMIN_KEY}",
        "providers": {
            "deepseek": {
                "type": "deepseek", "base_url": "https://api.deepseek.com/v1", "api_key": "${DEEPSEEK_API_KEY}",
                "mount": "/deepseek/v1", "models": ["deepseek-chat", "deepseek-reasoner"],
            },
            "alibaba": {
                "type": "dashscope", "base_url": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
                "api_key": "${DASHSCOPE_API_KEY}", "mount": "/alibaba/compatible-mode/v1",
            },
            "openai": {"type": "openai", "base_url": "https://api.openai.com/v1", "api_key": LITERAL_KEY},
        },
        "models": {
            "qwen-plus": [
                {"provider": "alibaba", "model": "qwen-plus", "weight": 3},
                {"provider": "deepseek", "model": "deepseek-chat", "weight": 1},
            ],
        },
        "mounts": {"/compat/v1": {"envelope": True}},
    }


def config_error(raw: Any, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, ENV if environ is None else environ)
    message = str(caught.value)
    assert leaks(message) == []
    return message


# ${VAR} expansion


def test_valid_config_with_env_expansion() -> None:
    config, skipped = parse_config(base(), ENV)
    assert skipped == []
    assert config.admin_key == ADMIN_KEY
    assert config.providers["deepseek"].api_key == DEEPSEEK_KEY
    assert config.providers["deepseek"].keys == [DEEPSEEK_KEY]
    assert config.providers["alibaba"].mount == "/alibaba/compatible-mode/v1"
    assert config.providers["openai"].api_key == LITERAL_KEY
    assert [d.provider for d in config.models["qwen-plus"]] == ["alibaba", "deepseek"]
    assert config.mounts["/compat/v1"].envelope is True


def test_defaults() -> None:
    config, _ = parse_config({"providers": {"p": {"type": "openai", "base_url": "http://127.0.0.1:8000/v1"}}}, {})
    assert config.providers["p"].timeout == Timeout(connect=5, first_token=60, idle=30, total=600)
    assert (config.routing.max_attempts, config.routing.deadline) == (3, 120)
    assert (config.routing.circuit.failures, config.routing.circuit.cooldown) == (5, 30)
    assert config.database == "sqlite:///./relaygate.db" and config.redis is None


def test_default_used_when_unset_and_ignored_when_set() -> None:
    raw = {"database": "${DB_URL:-sqlite:///./fallback.db}", "redis": "${REDIS_URL:-redis://127.0.0.1:6379/0}"}
    config, _ = parse_config(raw, {"REDIS_URL": "redis://cache:6379/1"})
    assert config.database == "sqlite:///./fallback.db"
    assert config.redis == "redis://cache:6379/1"


def test_a_redis_setting_that_is_not_a_redis_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"redis": "http://user:s3cret@cache:6379"}, {})
    assert "redis: must be a redis://" in str(caught.value) and "s3cret" not in str(caught.value)


def test_empty_default() -> None:
    config, _ = parse_config({"admin_key": "${RELAYGATE_ADMIN_KEY:-}"}, {})
    assert config.admin_key == ""


def test_default_used_when_set_but_empty() -> None:
    # `:-` as in the shell and docker compose: unset *or empty* takes the default.
    raw = {"providers": {"deepseek": {"type": "deepseek", "base_url": "${DEEPSEEK_BASE_URL:-https://api.deepseek.com/v1}"}}}
    config, _ = parse_config(raw, {"DEEPSEEK_BASE_URL": ""})
    assert config.providers["deepseek"].base_url == "https://api.deepseek.com/v1"


def test_several_references_in_one_string_in_lists_and_nested() -> None:
    raw = {
        "database": "postgresql://${PGUSER}:${PGPASSWORD}@${PGHOST:-localhost}:${PGPORT:-5432}/relaygate",
        "providers": {"ds": {
            "type": "deepseek", "base_url": "https://api.deepseek.com/v1",
            "api_keys": ["${KEY_A}", "${KEY_B}"],
            "timeout": {"first_token": "${FIRST_TOKEN:-90}"},
            "headers": {"X-Team": "${TEAM:-core}"},
        }},
    }
    environ = {"PGUSER": "rg", "PGPASSWORD": "pw", "PGPORT": "6543", "KEY_A": "sk-a", "KEY_B": "sk-b"}
    config, _ = parse_config(raw, environ)
    assert config.database == "postgresql://rg:pw@localhost:6543/relaygate"
    assert config.providers["ds"].keys == ["sk-a", "sk-b"]
    assert config.providers["ds"].timeout.first_token == 90
    assert config.providers["ds"].headers == {"X-Team": "core"}


def test_non_string_values_and_plain_dollars_untouched() -> None:
    raw = {"routing": {"max_attempts": 2, "hedge": {"qwen-plus": "p95"}},
           "keys": [{"key": "rg-$notavar-{x}-0000", "name": "demo"}]}
    config, _ = parse_config(raw, {})
    assert config.routing.max_attempts == 2 and config.routing.hedge == {"qwen-plus": "p95"}
    assert config.keys[0].key == "rg-$notavar-{x}-0000"


def test_missing_env_var_names_the_field_and_the_variable() -> None:
    environ = {k: v for k, v in ENV.items() if k != "DASHSCOPE_API_KEY"}
    message = config_error(base(), environ)
    assert "providers.alibaba.api_key" in message
    assert "DASHSCOPE_API_KEY" in message


def test_missing_env_var_in_a_list_names_the_index() -> None:
    raw = {**base(), "keys": [{"key": "rg-static-key-0001", "name": "ci"}, {"key": "${DEMO_KEY}", "name": "demo"}]}
    message = config_error(raw)
    assert "keys[1].key" in message and "DEMO_KEY" in message


# what makes a configuration invalid


def test_unknown_top_level_field() -> None:
    raw = {**base(), "provider": {}}
    assert "provider: unknown field" in config_error(raw)


def test_unknown_provider_field() -> None:
    raw = base()
    raw["providers"]["deepseek"]["apikey"] = "${DEEPSEEK_API_KEY}"
    assert "providers.deepseek.apikey: unknown field" in config_error(raw)


def test_unknown_nested_field() -> None:
    raw = base()
    raw["providers"]["alibaba"]["timeout"] = {"connect": 5, "read": 30}
    assert "providers.alibaba.timeout.read: unknown field" in config_error(raw)


def test_unknown_provider_type_lists_the_known_ones() -> None:
    raw = base()
    raw["providers"]["alibaba"]["type"] = "qwen"
    message = config_error(raw)
    assert "providers.alibaba.type" in message
    assert "'qwen'" in message
    for known in ("openai", "deepseek", "dashscope", "doubao"):
        assert known in message


@pytest.mark.parametrize(
    ("change", "mount"),
    [
        (lambda raw: raw["providers"]["openai"].update(mount="/deepseek/v1"), "/deepseek/v1"),
        (lambda raw: raw["providers"]["openai"].update(mount="/deepseek/v1/"), "/deepseek/v1"),
        (lambda raw: raw["mounts"].update({"/alibaba/compatible-mode/v1": {}}), "/alibaba/compatible-mode/v1"),
        (lambda raw: raw["providers"]["openai"].update(mount="/compat/v1"), "/compat/v1"),
        (lambda raw: raw["providers"]["openai"].update(mount="/v1"), "/v1"),
        (lambda raw: raw["mounts"].update({"/v1/": {"envelope": True}}), "/v1"),
    ],
    ids=["two_providers", "trailing_slash", "top_level_vs_provider", "provider_vs_top_level", "provider_v1",
         "top_level_v1"],
)
def test_duplicate_mount(change: Any, mount: str) -> None:
    raw = base()
    change(raw)
    message = config_error(raw)
    assert f"duplicate mount {mount}" in message


def test_invalid_mount_path() -> None:
    raw = base()
    raw["providers"]["openai"]["mount"] = "openai/v1"
    assert "providers.openai.mount" in config_error(raw)


def test_catalog_with_an_unknown_provider() -> None:
    raw = base()
    raw["models"]["claude-sonnet-4-5"] = [{"provider": "anthropic", "model": "claude-sonnet-4-5-20250929"}]
    message = config_error(raw)
    assert "models.claude-sonnet-4-5" in message and "'anthropic'" in message


def test_catalog_entry_without_deployments() -> None:
    raw = base()
    raw["models"]["empty"] = []
    assert "models.empty" in config_error(raw)


def test_base_url_required_for_remote_types_only() -> None:
    assert "needs base_url" in config_error({"providers": {"ds": {"type": "deepseek"}}}, {})
    config, _ = parse_config({"providers": {"demo": {"type": "emulator", "models": ["demo"]}}}, {})
    assert config.providers["demo"].base_url is None


def test_api_key_and_api_keys_together() -> None:
    raw = base()
    raw["providers"]["deepseek"]["api_keys"] = ["${DEEPSEEK_API_KEY}"]
    assert "api_key or api_keys" in config_error(raw)


def test_not_a_mapping() -> None:
    with pytest.raises(ConfigError):
        parse_config(["providers"], {})


# skip_without_key


def skippable() -> dict[str, Any]:
    raw = base()
    raw["providers"]["deepseek"]["api_key"] = "${DEEPSEEK_API_KEY:-}"
    raw["providers"]["deepseek"]["skip_without_key"] = True
    raw["providers"]["alibaba"]["api_key"] = "${DASHSCOPE_API_KEY:-}"
    raw["providers"]["alibaba"]["skip_without_key"] = True
    raw["models"]["deepseek-only"] = [{"provider": "deepseek", "model": "deepseek-reasoner"}]
    return raw


def test_skip_without_key_drops_providers_and_their_catalog_entries() -> None:
    config, skipped = parse_config(skippable(), {"DASHSCOPE_API_KEY": DASHSCOPE_KEY, "RELAYGATE_ADMIN_KEY": ADMIN_KEY})
    assert skipped == ["deepseek"]
    assert set(config.providers) == {"alibaba", "openai"}
    assert [(d.provider, d.model) for d in config.models["qwen-plus"]] == [("alibaba", "qwen-plus")]
    assert "deepseek-only" not in config.models


def test_skip_without_key_keeps_providers_that_have_one() -> None:
    config, skipped = parse_config(skippable(), ENV)
    assert skipped == []
    assert set(config.providers) == {"deepseek", "alibaba", "openai"}
    assert len(config.models["qwen-plus"]) == 2


def test_skip_without_key_with_every_provider_dropped() -> None:
    config, skipped = parse_config(skippable(), {"RELAYGATE_ADMIN_KEY": ADMIN_KEY})
    assert sorted(skipped) == ["alibaba", "deepseek"]
    assert set(config.providers) == {"openai"}
    assert config.models == {}


def test_skip_without_key_with_empty_api_keys() -> None:
    raw = skippable()
    del raw["providers"]["deepseek"]["api_key"]
    raw["providers"]["deepseek"]["api_keys"] = ["${DEEPSEEK_API_KEY:-}", "${DEEPSEEK_API_KEY_2:-}"]
    config, skipped = parse_config(raw, {"DASHSCOPE_API_KEY": DASHSCOPE_KEY, "RELAYGATE_ADMIN_KEY": ADMIN_KEY})
    assert skipped == ["deepseek"]
    assert "deepseek" not in config.providers


def test_without_skip_a_keyless_provider_stays() -> None:
    raw = base()
    raw["providers"]["deepseek"]["api_key"] = "${DEEPSEEK_API_KEY:-}"
    config, skipped = parse_config(raw, {**ENV, "DEEPSEEK_API_KEY": ""})
    assert skipped == [] and config.providers["deepseek"].keys == []


def test_bundled_demo_config_needs_no_key() -> None:
    path = resources.files("relaygate") / "demo" / "relaygate.yaml"
    config, skipped = load_config(str(path), environ={})
    assert set(config.providers) == {"demo"}
    assert set(skipped) == {"deepseek", "alibaba", "openai", "doubao"}
    config, skipped = load_config(str(path), environ={"DEEPSEEK_API_KEY": DEEPSEEK_KEY})
    assert config.providers["deepseek"].keys == [DEEPSEEK_KEY]
    assert "deepseek" not in skipped


def test_load_config_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "relaygate.yaml"
    path.write_text(GOOD_YAML)
    config, _ = load_config(path, environ=ENV)
    assert config.providers["deepseek"].api_key == DEEPSEEK_KEY
    assert config.routing.hedge == {"qwen-plus": 2.5}


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml", environ={})


# `relaygate check`, run as the operator runs it

GOOD_YAML = f"""\
database: sqlite:///./relaygate.db
admin_key: ${{RELAYGATE_ADMIN_KEY}}
providers:
  deepseek:
    type: deepseek
    base_url: https://api.deepseek.com/v1
    api_key: ${{DEEPSEEK_API_KEY}}
    mount: /deepseek/v1
    models: [deepseek-chat, deepseek-reasoner]
    timeout: {{connect: 5, first_token: 60, idle: 30, total: 600}}
  alibaba:
    type: dashscope
    base_url: https://dashscope-intl.aliyuncs.com/compatible-mode/v1
    api_key: ${{DASHSCOPE_API_KEY}}
    mount: /alibaba/compatible-mode/v1
  openai:
    type: openai
    base_url: https://api.openai.com/v1
    api_key: {LITERAL_KEY}
models:
  qwen-plus:
    - {{provider: alibaba, model: qwen-plus, weight: 3}}
    - {{provider: deepseek, model: deepseek-chat, weight: 1}}
routing:
  max_attempts: 3
  hedge: {{qwen-plus: 2.5}}
keys:
  - {{key: "rg-static-ci-key-0001", name: ci}}
mounts:
  /compat/v1: {{envelope: true}}
"""

# case → (YAML, what stderr must say)
BAD_CASES: dict[str, tuple[str, list[str]]] = {
    "missing_env_var": (
        GOOD_YAML.replace("${DASHSCOPE_API_KEY}", "${DASHSCOPE_KEY_UNSET}"),
        ["providers.alibaba.api_key", "DASHSCOPE_KEY_UNSET"],
    ),
    "unknown_field": (
        GOOD_YAML.replace("    mount: /deepseek/v1\n", "    mount: /deepseek/v1\n    region: cn\n"),
        ["providers.deepseek.region", "unknown field"],
    ),
    "unknown_provider_type": (GOOD_YAML.replace("type: dashscope", "type: qwen"), ["providers.alibaba.type", "qwen"]),
    "duplicate_mount_two_providers": (
        GOOD_YAML.replace("api_key: " + LITERAL_KEY, "api_key: " + LITERAL_KEY + "\n    mount: /deepseek/v1"),
        ["duplicate mount /deepseek/v1"],
    ),
    "duplicate_mount_top_level": (GOOD_YAML.replace("/compat/v1:", "/alibaba/compatible-mode/v1:"),
                                  ["duplicate mount /alibaba/compatible-mode/v1"]),
    "duplicate_mount_v1": (GOOD_YAML.replace("mount: /deepseek/v1", "mount: /v1"), ["duplicate mount /v1"]),
    "catalog_unknown_provider": (
        GOOD_YAML.replace("routing:", "  claude-sonnet-4-5:\n    - {provider: anthropic, model: claude-sonnet-4-5}\nrouting:"),
        ["models.claude-sonnet-4-5", "anthropic"],
    ),
    "invalid_yaml_next_to_a_secret": (
        GOOD_YAML.replace(f"api_key: {LITERAL_KEY}", f"api_key: {LITERAL_KEY}: oops"),
        ["not valid YAML"],
    ),
}
CLI_CASES = {"good": GOOD_YAML, **{name: yaml for name, (yaml, _) in BAD_CASES.items()}}


def relaygate_command() -> list[str]:
    script = Path(sys.executable).parent / "relaygate"
    return [str(script)] if script.exists() else [sys.executable, "-m", "relaygate"]


@pytest.fixture(scope="module")
def check_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Runs `relaygate check` on every case at once (each run pays the interpreter's start-up)."""
    folder = tmp_path_factory.mktemp("check")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and not k.startswith("RELAYGATE")}
    env.update(ENV)
    running = {}
    for name, text in CLI_CASES.items():
        path = folder / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        running[name] = subprocess.Popen(
            [*relaygate_command(), "check", "--config", str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=folder,
        )
    results = {}
    for name, process in running.items():
        stdout, stderr = process.communicate(timeout=60)
        results[name] = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return results


def assert_no_secret(result: subprocess.CompletedProcess[str]) -> None:
    assert leaks(result.stdout) == [], "secret on stdout"
    assert leaks(result.stderr) == [], "secret on stderr"


def test_check_accepts_a_good_config(check_results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = check_results["good"]
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
    assert "3 providers" in result.stdout
    assert result.stderr == ""
    assert_no_secret(result)


@pytest.mark.parametrize("case", BAD_CASES)
def test_check_rejects_a_bad_config_clearly_without_secrets(
    check_results: dict[str, subprocess.CompletedProcess[str]], case: str,
) -> None:
    result = check_results[case]
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.startswith("error:")
    assert "Traceback" not in result.stderr
    for words in BAD_CASES[case][1]:
        assert words in result.stderr
    assert_no_secret(result)


def test_a_configured_keys_limits_are_64_bit_whole_numbers() -> None:
    raw = {**base(), "keys": [{"key": "rg-static-key-0001", "name": "org", "tpm": 10**10, "rpm": 2**63 - 1}]}
    config, _ = parse_config(raw, ENV)
    assert (config.keys[0].tpm, config.keys[0].rpm) == (10**10, 2**63 - 1)
    raw["keys"][0]["rpm"] = 2**63
    assert "keys.0.rpm" in config_error(raw)
