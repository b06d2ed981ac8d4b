"""Subcommands of the ``arwsv`` CLI, one module each (see ``arwsv.cli``)."""
