"""The WAV player moved to the host (``studio.ui.player``), where the gallery plays sounds too;
kept here for the compose panel's imports."""

from studio.ui.player import Player, cut_wav, wav_duration

__all__ = ["Player", "cut_wav", "wav_duration"]
