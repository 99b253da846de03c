"""Models of the kernel's lib/ directory."""
