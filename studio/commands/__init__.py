"""The CLI's subcommands, one module each. Every module has ``register(subparsers)``, which adds
its parser and sets ``func=handler``; a handler takes the parsed args and returns an exit code.
Modules import heavy things (torch, Qt) inside their handlers only, so ``studio --version`` and
``studio --help`` stay fast."""
