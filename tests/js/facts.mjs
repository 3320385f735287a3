// The answer of GET /api/music as auralis/music/params.py gives it (regenerate: see tests/unit/test_music_api.py,
// which checks this file matches the server). Used as a fixture by the page modules' tests.
export const FACTS = {
  "modes": [
    {
      "name": "aeolian",
      "label": "Aeolian",
      "character": "calm, minor"
    },
    {
      "name": "dorian",
      "label": "Dorian",
      "character": "warm, hopeful"
    },
    {
      "name": "lydian",
      "label": "Lydian",
      "character": "bright, floating"
    },
    {
      "name": "phrygian",
      "label": "Phrygian",
      "character": "dark, mysterious"
    },
    {
      "name": "ionian",
      "label": "Ionian",
      "character": "clear, major"
    },
    {
      "name": "mixolydian",
      "label": "Mixolydian",
      "character": "open, easy-going"
    }
  ],
  "keys": [
    {
      "value": 60,
      "name": "C"
    },
    {
      "value": 61,
      "name": "C#"
    },
    {
      "value": 62,
      "name": "D"
    },
    {
      "value": 63,
      "name": "D#"
    },
    {
      "value": 64,
      "name": "E"
    },
    {
      "value": 65,
      "name": "F"
    },
    {
      "value": 66,
      "name": "F#"
    },
    {
      "value": 67,
      "name": "G"
    },
    {
      "value": 68,
      "name": "G#"
    },
    {
      "value": 69,
      "name": "A"
    },
    {
      "value": 70,
      "name": "A#"
    },
    {
      "value": 71,
      "name": "B"
    }
  ],
  "ranges": {
    "key": {
      "min": 60,
      "max": 71,
      "step": 1
    },
    "bpm": {
      "min": 40.0,
      "max": 90.0,
      "step": 1.0
    },
    "intensity": {
      "min": 0.0,
      "max": 1.0,
      "step": 0.05
    }
  },
  "defaults": {
    "key": 60,
    "mode": "aeolian",
    "bpm": 60.0,
    "intensity": 0.5,
    "palette": "classic"
  },
  "palettes": [
    {
      "name": "classic",
      "label": "Classic",
      "description": "Grand piano over a warm pad and a bowed contrabass, with harp and celesta.",
      "voices": [
        {
          "role": "melody",
          "program": 0,
          "instrument": "grand piano",
          "register": [
            67,
            103
          ],
          "pan": 0.1,
          "level": 1.0
        },
        {
          "role": "pad",
          "program": 89,
          "instrument": "warm pad",
          "register": [
            50,
            96
          ],
          "pan": -0.15,
          "level": 0.08
        },
        {
          "role": "bass",
          "program": 43,
          "instrument": "contrabass",
          "register": [
            36,
            47
          ],
          "pan": 0.0,
          "level": 0.171
        },
        {
          "role": "texture",
          "program": 46,
          "instrument": "harp",
          "register": [
            72,
            91
          ],
          "pan": -0.65,
          "level": 1.0
        },
        {
          "role": "bell",
          "program": 8,
          "instrument": "celesta",
          "register": [
            72,
            96
          ],
          "pan": 0.65,
          "level": 0.251
        }
      ]
    },
    {
      "name": "focus",
      "label": "Focus",
      "description": "Electric piano and a bowed pad over an upright bass, vibraphone and glockenspiel.",
      "voices": [
        {
          "role": "melody",
          "program": 4,
          "instrument": "electric piano",
          "register": [
            67,
            103
          ],
          "pan": 0.15,
          "level": 0.449
        },
        {
          "role": "pad",
          "program": 92,
          "instrument": "bowed pad",
          "register": [
            50,
            96
          ],
          "pan": -0.2,
          "level": 0.15
        },
        {
          "role": "bass",
          "program": 32,
          "instrument": "upright bass",
          "register": [
            36,
            47
          ],
          "pan": 0.0,
          "level": 0.54
        },
        {
          "role": "texture",
          "program": 11,
          "instrument": "vibraphone",
          "register": [
            72,
            93
          ],
          "pan": -0.65,
          "level": 1.0
        },
        {
          "role": "bell",
          "program": 9,
          "instrument": "glockenspiel",
          "register": [
            79,
            100
          ],
          "pan": 0.65,
          "level": 0.54
        }
      ]
    },
    {
      "name": "meditation",
      "label": "Meditation",
      "description": "Pan flute over a choir pad and a bowed pad, cello drone and tubular bells.",
      "voices": [
        {
          "role": "melody",
          "program": 75,
          "instrument": "pan flute",
          "register": [
            67,
            103
          ],
          "pan": 0.1,
          "level": 0.462
        },
        {
          "role": "pad",
          "program": 91,
          "instrument": "choir pad",
          "register": [
            50,
            96
          ],
          "pan": -0.25,
          "level": 0.076
        },
        {
          "role": "bass",
          "program": 42,
          "instrument": "cello drone",
          "register": [
            36,
            47
          ],
          "pan": 0.05,
          "level": 0.118
        },
        {
          "role": "texture",
          "program": 92,
          "instrument": "bowed pad",
          "register": [
            72,
            93
          ],
          "pan": 0.65,
          "level": 0.299
        },
        {
          "role": "bell",
          "program": 14,
          "instrument": "tubular bells",
          "register": [
            72,
            93
          ],
          "pan": -0.65,
          "level": 0.31
        }
      ]
    },
    {
      "name": "sleep",
      "label": "Sleep",
      "description": "Slow strings over a low drone, soft piano and very sparse celesta.",
      "voices": [
        {
          "role": "melody",
          "program": 0,
          "instrument": "soft piano",
          "register": [
            55,
            91
          ],
          "pan": 0.1,
          "level": 1.0
        },
        {
          "role": "pad",
          "program": 49,
          "instrument": "slow strings",
          "register": [
            38,
            84
          ],
          "pan": -0.2,
          "level": 0.085
        },
        {
          "role": "bass",
          "program": 94,
          "instrument": "halo drone",
          "register": [
            36,
            47
          ],
          "pan": 0.0,
          "level": 0.1
        },
        {
          "role": "texture",
          "program": 48,
          "instrument": "string ensemble",
          "register": [
            62,
            81
          ],
          "pan": 0.65,
          "level": 0.262
        },
        {
          "role": "bell",
          "program": 8,
          "instrument": "celesta",
          "register": [
            72,
            93
          ],
          "pan": -0.65,
          "level": 0.3
        }
      ]
    },
    {
      "name": "bright",
      "label": "Bright",
      "description": "Xylophone and harp over a sweep pad, fretless bass and tinkling bells.",
      "voices": [
        {
          "role": "melody",
          "program": 13,
          "instrument": "xylophone",
          "register": [
            67,
            103
          ],
          "pan": 0.1,
          "level": 0.85
        },
        {
          "role": "pad",
          "program": 95,
          "instrument": "sweep pad",
          "register": [
            50,
            96
          ],
          "pan": -0.2,
          "level": 0.035
        },
        {
          "role": "bass",
          "program": 35,
          "instrument": "fretless bass",
          "register": [
            36,
            47
          ],
          "pan": 0.0,
          "level": 0.13
        },
        {
          "role": "texture",
          "program": 46,
          "instrument": "harp",
          "register": [
            74,
            96
          ],
          "pan": 0.65,
          "level": 1.0
        },
        {
          "role": "bell",
          "program": 112,
          "instrument": "tinkle bell",
          "register": [
            79,
            100
          ],
          "pan": -0.65,
          "level": 0.4
        }
      ]
    },
    {
      "name": "glass",
      "label": "Glass",
      "description": "Music box and crystal over a halo pad, synth bass and glockenspiel.",
      "voices": [
        {
          "role": "melody",
          "program": 10,
          "instrument": "music box",
          "register": [
            67,
            103
          ],
          "pan": 0.1,
          "level": 0.799
        },
        {
          "role": "pad",
          "program": 94,
          "instrument": "halo pad",
          "register": [
            50,
            96
          ],
          "pan": -0.2,
          "level": 0.093
        },
        {
          "role": "bass",
          "program": 38,
          "instrument": "synth bass",
          "register": [
            36,
            47
          ],
          "pan": 0.0,
          "level": 1.0
        },
        {
          "role": "texture",
          "program": 98,
          "instrument": "crystal",
          "register": [
            72,
            91
          ],
          "pan": 0.65,
          "level": 1.0
        },
        {
          "role": "bell",
          "program": 9,
          "instrument": "glockenspiel",
          "register": [
            79,
            100
          ],
          "pan": -0.65,
          "level": 0.524
        }
      ]
    },
    {
      "name": "strings",
      "label": "Strings",
      "description": "A solo violin over a string ensemble and cello, with pizzicato and harp.",
      "voices": [
        {
          "role": "melody",
          "program": 40,
          "instrument": "violin",
          "register": [
            67,
            103
          ],
          "pan": 0.15,
          "level": 0.317
        },
        {
          "role": "pad",
          "program": 48,
          "instrument": "string ensemble",
          "register": [
            50,
            96
          ],
          "pan": -0.2,
          "level": 0.122
        },
        {
          "role": "bass",
          "program": 42,
          "instrument": "cello",
          "register": [
            36,
            47
          ],
          "pan": 0.05,
          "level": 0.137
        },
        {
          "role": "texture",
          "program": 45,
          "instrument": "pizzicato strings",
          "register": [
            72,
            93
          ],
          "pan": 0.65,
          "level": 0.692
        },
        {
          "role": "bell",
          "program": 46,
          "instrument": "harp harmonics",
          "register": [
            72,
            96
          ],
          "pan": -0.65,
          "level": 0.535
        }
      ]
    },
    {
      "name": "choir",
      "label": "Choir",
      "description": "Voices over choir aahs and a church organ pedal, with a halo and tubular bells.",
      "voices": [
        {
          "role": "melody",
          "program": 53,
          "instrument": "voice oohs",
          "register": [
            67,
            103
          ],
          "pan": 0.1,
          "level": 0.327
        },
        {
          "role": "pad",
          "program": 52,
          "instrument": "choir aahs",
          "register": [
            50,
            96
          ],
          "pan": -0.2,
          "level": 0.073
        },
        {
          "role": "bass",
          "program": 19,
          "instrument": "organ pedal",
          "register": [
            36,
            47
          ],
          "pan": 0.0,
          "level": 0.1
        },
        {
          "role": "texture",
          "program": 94,
          "instrument": "halo pad",
          "register": [
            72,
            93
          ],
          "pan": 0.65,
          "level": 0.163
        },
        {
          "role": "bell",
          "program": 14,
          "instrument": "tubular bells",
          "register": [
            72,
            93
          ],
          "pan": -0.65,
          "level": 0.229
        }
      ]
    },
    {
      "name": "garden",
      "label": "Garden",
      "description": "Kalimba and nylon guitar over a warm pad, acoustic bass and tinkling bells.",
      "voices": [
        {
          "role": "melody",
          "program": 108,
          "instrument": "kalimba",
          "register": [
            67,
            103
          ],
          "pan": 0.1,
          "level": 0.6
        },
        {
          "role": "pad",
          "program": 89,
          "instrument": "warm pad",
          "register": [
            50,
            96
          ],
          "pan": -0.2,
          "level": 0.093
        },
        {
          "role": "bass",
          "program": 32,
          "instrument": "acoustic bass",
          "register": [
            36,
            47
          ],
          "pan": 0.0,
          "level": 0.426
        },
        {
          "role": "texture",
          "program": 24,
          "instrument": "nylon guitar",
          "register": [
            72,
            93
          ],
          "pan": 0.65,
          "level": 0.6
        },
        {
          "role": "bell",
          "program": 112,
          "instrument": "tinkle bell",
          "register": [
            79,
            100
          ],
          "pan": -0.65,
          "level": 0.2
        }
      ]
    }
  ],
  "presets": [
    {
      "name": "focus",
      "label": "Focus",
      "description": "Warm and steady, hopeful without demanding attention.",
      "params": {
        "mode": "dorian",
        "bpm": 60.0,
        "intensity": 0.5,
        "palette": "focus"
      }
    },
    {
      "name": "meditation",
      "label": "Meditation",
      "description": "Slow, calm and spacious, with room to breathe.",
      "params": {
        "mode": "aeolian",
        "bpm": 50.0,
        "intensity": 0.3,
        "palette": "meditation"
      }
    },
    {
      "name": "sleep",
      "label": "Sleep",
      "description": "Very slow, dark and sparse, settling towards silence.",
      "params": {
        "mode": "phrygian",
        "bpm": 40.0,
        "intensity": 0.2,
        "palette": "sleep"
      }
    },
    {
      "name": "bright",
      "label": "Bright",
      "description": "Light and floating, for a clear head in the morning.",
      "params": {
        "mode": "lydian",
        "bpm": 70.0,
        "intensity": 0.6,
        "palette": "bright"
      }
    }
  ]
};
