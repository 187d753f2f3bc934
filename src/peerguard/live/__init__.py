"""The live substrate: agents as real OS processes, real sockets and an HTTP monitor."""
