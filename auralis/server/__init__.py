"""auralis.server layer."""
