"""strace: reading strace(1)'s logs (the system-call table prints calls as strace does)."""
