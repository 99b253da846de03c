"""Models of the kernel's fs/ directory."""
