"""The ``recscale`` command. One module per subcommand group; each is a thin layer over a library call."""
