"""Commands that live in their own module: ``comicdesk/commands/<command>.py`` with
``run(args, settings) -> int`` (exit code). ``comicdesk.cli`` builds every parser (the contract of
ARCHITECTURE.md) and imports the module only when its command runs, so ``comicdesk --help`` stays
fast. Output helpers (``emit_json``, ``note``, ``CommandError``, the progress bar) come from
``comicdesk.commands.output`` (never from ``comicdesk.cli``)."""
