"""The kpanim command line: the click group and one module per subcommand."""
