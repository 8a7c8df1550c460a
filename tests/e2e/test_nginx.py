"""deploy/nginx.conf in front of two real gateways: `nginx -t` accepts it, and the openai SDK gets
whole answers and streams through it, spread over both instances."""

from __future__ import annotations

import shutil
import subprocess
from contextlib import ExitStack
from pathlib import Path

import httpx
from openai import OpenAI

from tests.e2e.conftest import CLIENT_KEY, ROOT, free_port, one_upstream_config, start_gateway, wait_http
from tests.observability.exposition import parse_exposition

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"  # installed by scripts/test-services.sh
USER = {"role": "user", "content": "Hello"}


def gateway_config(e: str) -> str:
    return one_upstream_config(e, "chat", "chat-a")


def local_nginx_conf(directory: Path, listen: int, gateways: list[int]) -> Path:
    """The recipe's file with the compose host names and fixed paths replaced by local ones."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    for n, port in enumerate(gateways, 1):
        text = text.replace(f"server gateway-{n}:8080", f"server 127.0.0.1:{port}")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    text = text.replace("pid /tmp/nginx.pid;", f"pid {directory}/nginx.pid;")
    path = directory / "nginx.conf"
    path.write_text(text)
    return path


def answered(gateway) -> int:
    families = parse_exposition(httpx.get(f"{gateway.base}/metrics").text)
    return int(sum(families.get("relaygate_requests_total", {}).values()))


def test_nginx_recipe_proxies_answers_and_streams_to_both_instances(emulator, tmp_path):
    with ExitStack() as stack:
        gateways = []
        for name in ("one", "two"):
            (tmp_path / name).mkdir()
            gateways.append(stack.enter_context(start_gateway(gateway_config(emulator.base), tmp_path / name)))
        port = free_port()
        conf = local_nginx_conf(tmp_path, port, [int(g.base.rsplit(":", 1)[1]) for g in gateways])
        check = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stack.callback(nginx.wait, 10)
        stack.callback(nginx.terminate)
        wait_http(f"http://127.0.0.1:{port}/healthz", nginx)

        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=CLIENT_KEY, max_retries=0)
        for _ in range(2):
            answer = client.chat.completions.create(model="chat", messages=[USER])
            assert answer.choices[0].message.content
            chunks = list(client.chat.completions.create(model="chat", messages=[USER], stream=True))
            assert chunks[-1].choices[0].finish_reason == "stop"
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 404  # scraped per instance
        counts = [answered(g) for g in gateways]
        assert sum(counts) == 4 and min(counts) >= 1
