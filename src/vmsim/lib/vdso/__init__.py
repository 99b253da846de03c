"""Models of the kernel's lib/vdso/ directory."""
