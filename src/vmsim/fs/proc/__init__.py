"""Models of the kernel's fs/proc/ directory."""
