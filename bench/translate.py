"""CPU cost of the translators alone: what relaygate spends per stream, answer and request turning
Anthropic and Gemini into OpenAI chat (and back), next to the OpenAI-wire pass-through.

No sockets: each stream is fed to the gateway's own pump (ingress/streaming.py) one upstream event
per piece, as a model's tokens arrive. The payloads are shaped like the real APIs' (and like what the
emulator sends the load benchmark): 20 text deltas, usage, the finish. Times are CPU time
(`time.process_time`) per item, the median of --runs runs of --iterations each, so a busy machine
slows them less than wall-clock would. `--instructions` counts machine instructions per item
instead, under valgrind's callgrind, which load does not change at all (it needs valgrind and gcc:
a ten-line helper is compiled to tell callgrind where each case starts and ends).

    .venv/bin/python bench/translate.py [--iterations 2000] [--runs 7] [--only anthropic] [--instructions]
"""

from __future__ import annotations

import argparse
import ctypes
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from relaygate.ingress.streaming import PassthroughPump, TranslatedPump
from relaygate.providers.anthropic import ADAPTER as ANTHROPIC
from relaygate.providers.gemini import ADAPTER as GEMINI
from relaygate.providers.openai_compat import ADAPTER as OPENAI

WORDS = ["Echo:", " Write", " one", " sentence", " about", " benchmarks.", " \"Quoted\"", " naïve", " 京都",
         " tokens", " per", " second", " are", " measured", " on", " a", " quiet", " machine", ".\n", " Done"]
REQUEST: dict[str, Any] = {
    "model": "bench-model", "max_tokens": 64, "stream": True,
    "messages": [{"role": "system", "content": "You are a helpful assistant."},
                 {"role": "user", "content": "Write one sentence about benchmarks."}],
}


def sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def openai_stream() -> list[bytes]:
    head = {"id": "chatcmpl-BenchStream0000000000000000", "object": "chat.completion.chunk",
            "created": 1_763_900_000, "model": "bench-model", "system_fingerprint": "fp_bench0001"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse({**head, "choices": [choice], "usage": None})

    usage = {"prompt_tokens": 20, "completion_tokens": 20, "total_tokens": 40}
    return [chunk({"role": "assistant", "content": "", "refusal": None}),
            *[chunk({"content": w}) for w in WORDS], chunk({}, "stop"),
            sse({**head, "choices": [], "usage": usage}), b"data: [DONE]\n\n"]


def anthropic_stream() -> list[bytes]:
    usage = {"input_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
             "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
             "output_tokens": 1, "service_tier": "standard"}
    message = {"model": "bench-claude", "id": "msg_01ZxByJI4MC1wgoVKCcqgKYh", "type": "message",
               "role": "assistant", "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}
    return [
        sse({"type": "message_start", "message": message}, "message_start"),
        sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            "content_block_start"),
        sse({"type": "ping"}, "ping"),
        *[sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
              "content_block_delta") for w in WORDS],
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
             "usage": {**usage, "output_tokens": 20}}, "message_delta"),
        sse({"type": "message_stop"}, "message_stop"),
    ]


def gemini_stream() -> list[bytes]:
    def event(n: int, word: str, finish: bool) -> bytes:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": word}], "role": "model"}}
        if finish:
            candidate["finishReason"] = "STOP"
        candidate["index"] = 0
        usage = {"promptTokenCount": 20, "candidatesTokenCount": n + 1, "totalTokenCount": 21 + n,
                 "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 20}]}
        return sse({"candidates": [candidate], "usageMetadata": usage, "modelVersion": "bench-gemini",
                    "responseId": "rqB0zbwTR085aaqBLd50Mg"})

    return [event(n, w, n == len(WORDS) - 1) for n, w in enumerate(WORDS)]


def anthropic_message() -> bytes:
    return orjson.dumps({
        "model": "bench-claude", "id": "msg_01ZxByJI4MC1wgoVKCcqgKYh", "type": "message", "role": "assistant",
        "content": [{"type": "text", "text": "".join(WORDS)}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                  "output_tokens": 20, "service_tier": "standard"},
    })


def gemini_answer() -> bytes:
    return orjson.dumps({
        "candidates": [{"content": {"parts": [{"text": "".join(WORDS)}], "role": "model"},
                        "finishReason": "STOP", "avgLogprobs": -0.1, "index": 0}],
        "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 20, "totalTokenCount": 40},
        "modelVersion": "bench-gemini", "responseId": "rqB0zbwTR085aaqBLd50Mg",
    })


def stream_case(pieces: list[bytes], make_pump: Callable[[], Any]) -> Callable[[], int]:
    def one() -> int:
        pump = make_pump()
        sent = sum(len(pump.feed(piece) or b"") for piece in pieces)
        return sent if pump.end.done else sent + len(pump.close())
    return one


def cases() -> dict[str, Callable[[], Any]]:
    body = {**REQUEST, "stream": False}
    raw = orjson.dumps(REQUEST)
    message, answer = anthropic_message(), gemini_answer()
    return {
        "openai stream (pass-through)": stream_case(openai_stream(), lambda: PassthroughPump("up", False)),
        "anthropic stream": stream_case(anthropic_stream(),
                                        lambda: TranslatedPump(ANTHROPIC.stream_translator(REQUEST, "bench-claude"))),
        "gemini stream": stream_case(gemini_stream(),
                                     lambda: TranslatedPump(GEMINI.stream_translator(REQUEST, "bench-gemini"))),
        # The emulator writes a whole unpaced stream at once (as the load benchmark runs it): one piece.
        "openai stream, one piece": stream_case([b"".join(openai_stream())], lambda: PassthroughPump("up", False)),
        "anthropic stream, one piece": stream_case(
            [b"".join(anthropic_stream())], lambda: TranslatedPump(ANTHROPIC.stream_translator(REQUEST, "bench-claude"))),
        "gemini stream, one piece": stream_case(
            [b"".join(gemini_stream())], lambda: TranslatedPump(GEMINI.stream_translator(REQUEST, "bench-gemini"))),
        "openai request": lambda: OPENAI.chat_body(REQUEST, raw, "bench-model", True),
        "anthropic request": lambda: ANTHROPIC.chat_body(REQUEST, raw, "bench-claude", True),
        "gemini request": lambda: GEMINI.chat_body(REQUEST, raw, "bench-gemini", True),
        "anthropic answer": lambda: ANTHROPIC.chat_response(message, body, "bench-claude"),
        "gemini answer": lambda: GEMINI.chat_response(answer, body, "bench-gemini"),
    }


def cpu_us(case: Callable[[], Any], iterations: int) -> float:
    start = time.process_time()
    for _ in range(iterations):
        case()
    return (time.process_time() - start) / iterations * 1e6


MARKS = """#include <valgrind/callgrind.h>
void zero(void) { CALLGRIND_ZERO_STATS; }
void dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
"""


def instructions(selected: dict[str, Callable[[], Any]], iterations: int) -> None:
    """Runs this script again under callgrind, each case between a zero and a dump of the counters."""
    work = Path(tempfile.mkdtemp(prefix="relaygate-callgrind-"))
    (work / "marks.c").write_text(MARKS)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(work / "marks.so"), str(work / "marks.c")], check=True)
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={work}/out", sys.executable, __file__,
         *sys.argv[1:], "--iterations", str(iterations), "--marks", str(work / "marks.so")],
        check=True, capture_output=True,
    )
    for name, dumped in zip(selected, sorted(work.glob("out.*"), key=lambda f: int(f.suffix[1:]))):
        total = int(re.search(r"^(?:summary|totals): (\d+)", dumped.read_text(), re.MULTILINE)[1])
        print(f"{name:30} {total / iterations:10,.0f} instructions", flush=True)


def marked(selected: dict[str, Callable[[], Any]], iterations: int, library: str) -> None:
    marks = ctypes.CDLL(library)
    for name, case in selected.items():
        case()
        marks.zero()
        for _ in range(iterations):
            case()
        marks.dump(name.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", default="", help="measure only the cases whose name contains this")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    parser.add_argument("--marks", help=argparse.SUPPRESS)  # set by --instructions for the run under callgrind
    args = parser.parse_args()
    selected = {name: case for name, case in cases().items() if args.only in name}
    if args.marks:
        return marked(selected, args.iterations, args.marks)
    if args.instructions:
        return instructions(selected, min(args.iterations, 200))
    for name, case in selected.items():
        case()  # warm-up, and a failing case fails here
        runs = sorted(cpu_us(case, args.iterations) for _ in range(args.runs))
        print(f"{name:30} {statistics.median(runs):8.1f} µs  (min {runs[0]:.1f}, max {runs[-1]:.1f})", flush=True)


if __name__ == "__main__":
    main()
