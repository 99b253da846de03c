"""Models of the kernel's arch/x86/entry/ directory."""
