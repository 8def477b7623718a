"""Applications around a model: depth videos and cameras, the web demo, pictures of depth."""
