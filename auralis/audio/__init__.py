"""auralis.audio layer."""
