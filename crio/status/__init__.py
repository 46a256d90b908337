"""`crio-status`: a client of the HTTP API a running CRI-O serves on its unix socket."""
