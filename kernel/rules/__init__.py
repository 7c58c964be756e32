"""Rule files: loading, checking and compiling them."""
