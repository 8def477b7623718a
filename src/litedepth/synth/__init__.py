"""The procedural room generator: scenes, furniture, rendering, and datasets in the NYU-v2 layout."""
