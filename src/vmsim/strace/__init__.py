"""strace: printing calls the way strace(1) prints them (and, later, reading its logs)."""
