"""auralis.monitoring layer."""
