"""Pure composition: theory, harmony, melody, the composer and MIDI export.

No audio, no web: this layer imports nothing from the rest of Auralis.
"""
