"""readpath's command-line tool: one module per subcommand, shared helpers beside them."""
