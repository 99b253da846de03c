"""Models of the kernel's mm/ directory."""
