"""An emulated set of OpenAI-compatible upstreams for tests, the demo and the benchmark.

Chat completions (`POST <prefix>/chat/completions`) and model lists (`GET <prefix>/models`) per
flavour: `/openai/v1` (also `/v1`), `/deepseek/v1` (also `/deepseek`),
`/dashscope/compatible-mode/v1`, `/doubao/api/v3`. The control API lives under `/_emulator/`
(see `control.py`; rule fields in `script.py`). Run with `python -m relaygate.emulator`, or start
in-process with `start_emulator()`.
"""

from .server import build_app, start_emulator

__all__ = ["build_app", "start_emulator"]
