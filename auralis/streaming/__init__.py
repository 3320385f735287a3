"""auralis.streaming layer."""
