"""The ``litedepth`` command: one tool, one subcommand per module in ``litedepth.commands``.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``; a command that writes files sets ``WRITES = True`` and gets the one
``--overwrite`` flag (`litedepth.outputs.OutputGuard`). Modules are imported only when their
command runs, so ``litedepth --help`` is fast and optional extras are never imported needlessly.
Every user-facing failure (bad input, invalid option, a full disk, a busy port) ends as one line
on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import logging
import sys

from .errors import LitedepthError, first_line, is_disk_full

COMMANDS = {
    "predict": "litedepth.commands.predict",
    "info": "litedepth.commands.info",
    "convert": "litedepth.commands.convert",
    "eval": "litedepth.commands.eval",
    "synth": "litedepth.commands.synth",
    "train": "litedepth.commands.train",
    "distill": "litedepth.commands.distill",
    "export": "litedepth.commands.export",
    "bench": "litedepth.commands.bench",
    "reproduce": "litedepth.commands.reproduce",
    "serve": "litedepth.commands.serve",
}


OVERWRITE_HELP = (
    "replace an earlier output of this command's kind (an existing file, a finished run, a dataset "
    "litedepth wrote); inputs of the command are never written"
)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``litedepth CMD: error: ...``) and exit code 2.

    Options are never abbreviated (``allow_abbrev=False``): a prefix such as ``--teacher`` is not
    silently read as ``--teacher-images``; an unknown option is refused with its nearest names.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.commands: dict[str, argparse.ArgumentParser] = {}  # the top parser's subcommands, by name

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = self.commands.get(getattr(namespace, "command", None) or "", self)
            parser.error(unknown_arguments(extras, parser))
        return namespace


def unknown_arguments(extras: list[str], parser: argparse.ArgumentParser) -> str:
    """The message for arguments ``parser`` does not take: the first unknown option and its nearest names."""
    options = [o for action in parser._actions for o in action.option_strings]
    given = next((e for e in extras if e.startswith("-") and len(e) > 1), None)
    if given is None:
        return f"unexpected argument{'s' if len(extras) > 1 else ''}: {' '.join(extras)}"
    name = given.split("=", 1)[0]
    near = [o for o in options if o.startswith(name) and name.startswith("--")]  # what argparse once took it for
    near = near or difflib.get_close_matches(name, options, n=2, cutoff=0.6)
    hint = f"; did you mean {' or '.join(near)}?" if near else ""
    return f"unknown option {name}{hint}"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="litedepth", description="Light, fast monocular depth estimation by knowledge distillation."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name, module_name in COMMANDS.items():
        if command is not None and name != command:
            sub.add_parser(name)
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # command not implemented in this version
        p = parser.commands[name] = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        if getattr(module, "WRITES", False):
            p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
        p.set_defaults(_module=module)
    return parser


@contextlib.contextmanager
def messages_on_stderr():
    """Show the library's log messages (``litedepth.*`` loggers, INFO and up) as plain lines on stderr.

    The library only logs; the command line decides that its user sees them. Scoped to one command,
    so that a program calling `main` keeps its own logging set-up.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("litedepth")
    saved = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if getattr(args, "_module", None) is None:
        parser.print_help()
        return 0 if not argv else 2
    from .outputs import held_locks

    try:
        with messages_on_stderr(), held_locks():  # a folder a command claims stays locked until it ends
            return int(args._module.run(args) or 0)
    except LitedepthError as exc:
        print(f"litedepth {args.command}: error: {first_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a read-only folder, a busy port: what the system said, and where
        where = f"{exc.filename}: " if exc.filename else ""
        full = is_disk_full(exc)  # ENOSPC, EFBIG, EDQUOT alike
        what = "no space left on device" if full else exc.strerror or first_line(exc)
        print(f"litedepth {args.command}: error: {where}{what}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("litedepth: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
