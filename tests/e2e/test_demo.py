"""`relaygate demo` (what `make run` starts): a first request works with no provider key at all."""

from __future__ import annotations

import os
import subprocess

from openai import OpenAI

from tests.e2e.conftest import RELAYGATE, free_port, wait_http

PROVIDER_KEYS = ("DEEPSEEK_API_KEY", "DASHSCOPE_API_KEY", "OPENAI_API_KEY", "ARK_API_KEY")


def test_demo_answers_the_demo_model_without_provider_keys(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEYS}
    env["RELAYGATE_DEMO_KEY"] = "rg-demo-test-key-1"
    proc = subprocess.Popen([RELAYGATE, "demo", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="rg-demo-test-key-1", max_retries=0)
        answer = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "Hello!"}])
        assert answer.choices[0].message.content.startswith("Echo: Hello!")
        streamed = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(
                model="demo", messages=[{"role": "user", "content": "Hello!"}], stream=True
            )
        )
        assert streamed == answer.choices[0].message.content
        assert [m.id for m in client.models.list()][0] == "demo"
    finally:
        proc.terminate()
        banner = proc.communicate(timeout=10)[0]
    assert "rg-demo-test-key-1" in banner and f"curl http://127.0.0.1:{port}/v1/chat/completions" in banner
    assert "off for want of a key: deepseek, alibaba, openai, doubao" in banner
