"""The `auralis` command: serve, compose, render, doctor.

Each command's work lives in its layer; this module only parses arguments.
"""

from __future__ import annotations

import argparse
import sys

from auralis.audio.fluid import FluidSynthMissingError
from auralis.music.palettes import DEFAULT_PALETTE, PALETTES
from auralis.music.params import MODES, PRESETS, MusicParams


def _add_music_args(p: argparse.ArgumentParser, *, minutes_required: bool = True) -> None:
    p.add_argument("--minutes", type=float, required=minutes_required, help="length of the piece in minutes")
    p.add_argument("--seed", type=int, default=None, help="random seed (same seed, same music; default 0)")
    p.add_argument("--preset", choices=sorted(PRESETS), help="preset (keeps --key)")
    p.add_argument("--key", type=int, default=None, help="key root as a MIDI pitch 60-71 (default 60 = C)")
    p.add_argument("--mode", choices=MODES, help="mode (default aeolian)")
    p.add_argument("--bpm", type=float, help="tempo 40-90 (default 60)")
    p.add_argument("--intensity", type=float, help="density 0.0-1.0 (default 0.5)")
    p.add_argument("--palette", choices=list(PALETTES),
                   help=f"instruments (default: the preset's, else {DEFAULT_PALETTE})")


def music_params_from_args(args: argparse.Namespace) -> MusicParams:
    """Build validated parameters: the preset first, then explicit flags on top."""
    params = MusicParams(key=args.key if args.key is not None else 60)
    if args.preset:
        params = params.with_preset(args.preset)
    changes = {k: getattr(args, k) for k in ("mode", "bpm", "intensity", "palette") if getattr(args, k) is not None}
    return params.with_changes(**changes)


def _render_timeline(args: argparse.Namespace) -> int:
    """`auralis render --timeline FILE`: a span of a stream's music, as the server renders it."""
    import json
    from pathlib import Path

    from auralis.music.timeline import Timeline
    from auralis.streaming.renders import render_file

    given = [f"--{k}" for k in ("seed", "preset", "key", "mode", "bpm", "intensity") if getattr(args, k) is not None]
    if given:
        raise ValueError(f"{given[0]} cannot go with --timeline: the timeline carries the seed and parameters")
    outputs = [(fmt, path) for fmt, path in (("wav", args.wav), ("ogg", args.ogg), ("midi", args.midi)) if path]
    if not outputs:
        raise ValueError("--timeline needs an output: --wav, --ogg and/or --midi")
    try:
        doc = json.loads(Path(args.timeline).read_text())
    except OSError as exc:
        raise ValueError(f"cannot read the timeline {args.timeline}: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"the timeline {args.timeline} is not JSON: {exc}") from None
    timeline = Timeline.from_json(doc)
    start = args.start if args.start is not None else 0.0
    if args.end is not None:
        end = args.end
    elif args.minutes is not None:
        end = start + args.minutes * 60
    elif timeline.end is not None:
        end = timeline.end
    else:
        raise ValueError("the timeline has no end: give --to or --minutes")
    for fmt, path in outputs:
        render_file(timeline, start, end, fmt, path, soundfont=args.soundfont)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auralis", description="Real-time generative ambient music.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the music over HTTP and WebSocket")
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--soundfont", default=None, help="path to a General MIDI .sf2 SoundFont")
    serve.add_argument("--workers", type=int, default=None,
                       help="worker processes on the port, e.g. the number of cores (default 1)")

    compose = sub.add_parser("compose", help="write composed music to a MIDI file (no audio)")
    _add_music_args(compose)
    compose.add_argument("--midi", required=True, help="output .mid path")

    render = sub.add_parser(
        "render",
        help="render composed music to a WAV file, offline (or a span of a stream from its --timeline)",
    )
    _add_music_args(render, minutes_required=False)
    render.add_argument("--wav", default=None, help="output .wav path (44.1 kHz, 16-bit stereo)")
    render.add_argument("--midi", default=None, help="also write the MIDI file")
    render.add_argument("--timeline", default=None, metavar="FILE",
                        help="a stream's parameter timeline (JSON, docs/renders.md): render what it played; "
                        "carries the seed and parameters")
    render.add_argument("--from", dest="start", type=float, default=None,
                        help="with --timeline: the span's start in seconds (default 0)")
    render.add_argument("--to", dest="end", type=float, default=None,
                        help="with --timeline: the span's end in seconds (default: the timeline's end, "
                        "else --from plus --minutes)")
    render.add_argument("--ogg", default=None, help="with --timeline: also write Ogg Opus")
    render.add_argument("--soundfont", default=None, help="path to a General MIDI .sf2 SoundFont")

    sub.add_parser("doctor", help="check FluidSynth, the SoundFont and Opus, and say what to install")

    rec = sub.add_parser("record", help="record a stream to .wav or .ogg; report seq gaps and underruns")
    rec.add_argument("url", help="stream URL, e.g. ws://127.0.0.1:8000/ws/stream?seed=7&format=opus")
    rec.add_argument("--seconds", type=float, required=True, help="seconds of audio to record")
    rec.add_argument("--out", required=True, help="output file: .wav (PCM) or .ogg (Opus)")
    rec.add_argument("--format", choices=("json", "pcm", "opus"), default=None,
                     help="stream format (sets format= in the URL; default: the URL's, else json)")
    rec.add_argument("--buffer-ms", type=float, default=300.0,
                     help="jitter buffer of the simulated player that counts underruns (default 300)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            from auralis.server.app import serve

            return serve(host=args.host, port=args.port, soundfont=args.soundfont, workers=args.workers) or 0
        if args.command == "record":
            from auralis.client.record import main as record_main

            return record_main(args.url, args.seconds, args.out, args.format, args.buffer_ms)
        if args.command == "doctor":
            from auralis.audio.doctor import run_doctor
            from auralis.streaming.encoders import doctor_check

            return run_doctor(checks=[doctor_check])
        if args.command == "render" and args.timeline is not None:
            return _render_timeline(args)
        if args.command == "render" and (args.wav is None or args.minutes is None):
            raise ValueError("render needs --minutes and --wav (or --timeline FILE)")
        if args.command == "render" and (args.start is not None or args.end is not None or args.ogg):
            raise ValueError("--from, --to and --ogg go with --timeline")
        params = music_params_from_args(args)
        if args.seed is None:
            args.seed = 0
        if args.command == "compose":
            from auralis.music.export import compose_midi

            compose_midi(args.midi, minutes=args.minutes, seed=args.seed, params=params)
            return 0
        if args.command == "render":
            from auralis.audio.offline import render_offline

            render_offline(
                args.wav,
                minutes=args.minutes,
                seed=args.seed,
                params=params,
                midi_path=args.midi,
                soundfont=args.soundfont,
            )
            return 0
    except ValueError as exc:  # bad parameters, SoundFontError
        print(f"auralis {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except FluidSynthMissingError as exc:  # its message carries the install command
        print(f"auralis {args.command}: error: {exc}", file=sys.stderr)
        return 3
    return 1


if __name__ == "__main__":
    sys.exit(main())
