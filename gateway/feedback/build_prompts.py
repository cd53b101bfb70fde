"""Render the default prompts to audio files (espeak-ng), for every language, or check a pushed pack.

    python -m gateway.feedback.build_prompts <prompts dir> [--language zh-CN] [--rate 150]

Run by ``scripts/setup`` and ``scripts/install`` (into the state directory); the gateway renders anything still
missing on demand, so a box without them still speaks. Files are ``<dir>/<lang>/<tag>.wav`` with a
``manifest.json`` of what each one says (a changed text is rendered again).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from gateway.feedback.audio import PromptFiles
from gateway.feedback.prompts import LANGUAGES, all_tags, prompt_text
from gateway.settings.feedback import VOICES


def _split(tag: str) -> tuple[str, str | None]:
    kind, _, state = tag.partition(".")
    return (state, kind) if state else (kind, None)


async def build(root: Path, languages: list[str], rate: int = 150) -> int:
    """Render every prompt of ``languages`` that is missing or stale under ``root``; returns how many exist."""
    count = 0
    for lang in languages:
        files = PromptFiles(root, lang, voice=VOICES[lang], rate=rate)
        for tag in all_tags():
            state, kind = _split(tag)
            text = prompt_text(state, kind, lang)  # type: ignore[arg-type]
            if text:
                await files.file_for(tag, text, use_pack=False)
                count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--language", action="append", choices=LANGUAGES, help="default: every language")
    parser.add_argument("--rate", type=int, default=150)
    args = parser.parse_args(argv)
    try:
        count = asyncio.run(build(args.dir, args.language or list(LANGUAGES), args.rate))
    except OSError as exc:
        print(f"build_prompts: {exc}", file=sys.stderr)
        return 1
    print(f"{count} prompts in {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
