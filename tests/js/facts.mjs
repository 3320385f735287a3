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
    "intensity": 0.5
  },
  "presets": [
    {
      "name": "focus",
      "label": "Focus",
      "description": "Warm and steady, hopeful without demanding attention.",
      "params": {
        "mode": "dorian",
        "bpm": 60.0,
        "intensity": 0.5
      }
    },
    {
      "name": "meditation",
      "label": "Meditation",
      "description": "Slow, calm and spacious, with room to breathe.",
      "params": {
        "mode": "aeolian",
        "bpm": 50.0,
        "intensity": 0.3
      }
    },
    {
      "name": "sleep",
      "label": "Sleep",
      "description": "Very slow, dark and sparse, settling towards silence.",
      "params": {
        "mode": "phrygian",
        "bpm": 40.0,
        "intensity": 0.2
      }
    },
    {
      "name": "bright",
      "label": "Bright",
      "description": "Light and floating, for a clear head in the morning.",
      "params": {
        "mode": "lydian",
        "bpm": 70.0,
        "intensity": 0.6
      }
    }
  ]
};
