"""Placeholder: the bench helper replaces this module."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10)


def main(args: argparse.Namespace) -> int:
    raise SystemExit("examcast bench: not written yet")
