"""Tools: benchmarks, diagnostics and plotting scripts. They import the library; the library never imports them
(only the command line does, lazily)."""
