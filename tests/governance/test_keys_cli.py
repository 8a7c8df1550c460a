import re

import orjson

from _databases import config_file, relaygate_cli, run_with_engine
from relaygate.governance.keys import key_digest
from relaygate.governance.keystore import KeyStore

KEY = re.compile(r"rg-[A-Za-z0-9_-]{40}")


def _last_line_key(done):
    last = done.stdout.rstrip("\n").splitlines()[-1]
    assert KEY.fullmatch(last), done.stdout
    return last


def test_key_lifecycle_through_the_cli(database_url, tmp_path):
    config = config_file(tmp_path, database_url)
    first = _last_line_key(relaygate_cli(config, "keys", "create", "--name", "team-a", "--budget", "10",
                                         "--budget-period", "monthly", "--rpm", "60", "--models", "gpt-4o,qwen-plus"))
    relaygate_cli(config, "keys", "update", "team-a", "--rpm", "none", "--tpm", "1000", "--expires", "2099-01-01")
    rotated = _last_line_key(relaygate_cli(config, "keys", "rotate", "team-a"))

    async def check(engine):
        store = KeyStore(engine)
        return await store.lookup(key_digest(first)), await store.lookup(key_digest(rotated))

    by_first, by_rotated = run_with_engine(database_url, check)
    assert by_first is None and by_rotated.name == "team-a"
    assert (by_rotated.rpm, by_rotated.tpm, str(by_rotated.budget)) == (None, 1000, "10.0000000000")

    relaygate_cli(config, "keys", "revoke", "team-a")
    listed = relaygate_cli(config, "keys", "list", "--json").stdout
    (key,) = orjson.loads(listed)["data"]
    assert (key["name"], key["status"], key["prefix"]) == ("team-a", "revoked", rotated[:8])
    assert key["models"] == ["gpt-4o", "qwen-plus"] and key["budget_period"] == "monthly"
    assert rotated not in listed and first not in listed
    assert run_with_engine(database_url, lambda engine: KeyStore(engine).lookup(key_digest(rotated))) is None


def test_refused_input_is_a_clear_error(tmp_path):
    config = config_file(tmp_path, f"sqlite:///{tmp_path / 'k.db'}")
    done = relaygate_cli(config, "keys", "update", "nobody", "--rpm", "5", ok=False)
    assert done.returncode == 1 and "no key named 'nobody'" in done.stderr and done.stdout == ""


def test_limits_up_to_64_bits_on_either_database(database_url, tmp_path):
    """A TPM of ten billion (an organisation's whole allowance) is stored and read back on PostgreSQL as
    on SQLite; one beyond 64 bits is refused with the setting named, not a traceback."""
    config = config_file(tmp_path, database_url)
    key = _last_line_key(relaygate_cli(config, "keys", "create", "--name", "org", "--tpm", "10000000000",
                                       "--rpm", str(2**63 - 1)))
    found = run_with_engine(database_url, lambda engine: KeyStore(engine).lookup(key_digest(key)))
    assert (found.tpm, found.rpm) == (10_000_000_000, 2**63 - 1)
    done = relaygate_cli(config, "keys", "update", "org", "--tpm", str(2**63), ok=False)
    assert done.returncode == 1 and "tpm" in done.stderr and "Traceback" not in done.stderr
