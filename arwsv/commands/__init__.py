"""Subcommands of the ``arwsv`` CLI, one module each (see ``arwsv.cli``).

Each module parses its flags and calls into the library; nothing else imports them (the CLI itself
imports them by name). May import every subpackage of ``arwsv``.
"""
