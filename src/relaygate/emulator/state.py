"""Everything one emulator instance holds between requests; hangs off the app, never global."""

from __future__ import annotations

from dataclasses import dataclass, field

from .recording import Recorder
from .render import TemplateCache
from .script import Script

DEFAULT_CHUNKS = 20


@dataclass
class EmulatorState:
    keys: frozenset[str] = frozenset()
    recorder: Recorder | None = field(default_factory=Recorder)
    script: Script = field(default_factory=Script)
    templates: TemplateCache = field(default_factory=TemplateCache)
    default_chunks: int = DEFAULT_CHUNKS
    burst: bool = True
