"""The Compose panel and its Qt parts: the Train tab, the piano roll, the audio player, the MIDI
drag handle. The rest of studio_compose imports no Qt, so its tasks run headless."""
