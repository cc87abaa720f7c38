"""The Compose panel and its Qt parts: the piano roll and the audio player. The rest of
studio_compose imports no Qt, so its tasks run headless."""
