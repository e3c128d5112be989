"""Everything that knows Bloxs: the contract schemas, the one HTTP client, the sandbox."""
