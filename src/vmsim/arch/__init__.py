"""Models of the kernel's arch/ directory."""
