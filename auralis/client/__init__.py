"""auralis.client: reference clients of the streaming protocol (third-party authors start here)."""
