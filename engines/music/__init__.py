"""Music: lyrics, composition (MIDI), FluidSynth rendering, sung vocals, mixing and mastering.

Importing this package is cheap: pretty_midi, FluidSynth, librosa and torch load on first use.
"""
