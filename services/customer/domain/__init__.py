"""Customer domain rules: plain Python, no nameko, no SQL."""
