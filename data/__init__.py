"""Where images come from: sources, decoding, splits. Imports nothing else of ours."""
