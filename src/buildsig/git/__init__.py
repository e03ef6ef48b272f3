"""Git sources: object parsing, resolution over real transports, PGP and SSH signatures."""
