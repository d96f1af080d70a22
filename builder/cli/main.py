"""The `omnibus` command. The only place that prints errors and chooses exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from builder.cli.args import build_parser
from builder.cli.verbs import VERBS
from builder.errors import BuilderError


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        output = VERBS[args.verb](args)
    except BuilderError as error:
        if args.debug:
            import traceback

            traceback.print_exc()
        print(f"omnibus: error: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"  hint: {error.hint}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("omnibus: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug of ours: say so plainly, traceback with --debug
        if args.debug:
            raise
        print(f"omnibus: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        print("  hint: run again with --debug for the traceback, and report it", file=sys.stderr)
        return 70
    try:
        print(output)
    except BrokenPipeError:  # e.g. `omnibus list | head`
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
