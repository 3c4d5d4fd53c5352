"""The ``ionto`` command: a thin shell over ``ionto.contract`` (see shared/CONTRACT.md).

Exit codes: 0 success; 2 bad input, with one line on stderr and never a traceback.
JSON goes to stdout; anything meant for people goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from ionto import __version__
from ionto.contract.errors import InputError, read_input

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2 (CONTRACT.md)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {' '.join(message.split())}\n")


def _cmd_screen(args: argparse.Namespace) -> dict[str, Any]:
    from ionto.contract.screen import screen_json

    return screen_json(read_input(args.file))


def _cmd_course_verdict(args: argparse.Namespace) -> dict[str, Any]:
    from ionto.contract.verdict import verdict_json

    return verdict_json(read_input(args.file))


def _cmd_course_simulate(args: argparse.Namespace) -> dict[str, Any]:
    from ionto.contract.course_simulate import options_from_text, simulate_json

    return simulate_json(
        options_from_text(
            patients=args.patients,
            seed=args.seed,
            protocol=args.protocol,
            region=args.region,
            age=args.age,
            maintenance=args.maintenance,
            engine=args.engine,
            calibration=args.calibration,
        )
    )


def _cmd_session_simulate(args: argparse.Namespace) -> dict[str, Any]:
    from ionto.contract.session import request_from_options, simulate_json

    request = request_from_options(
        region=args.region,
        current=args.current,
        minutes=args.minutes,
        waveform=args.waveform,
        reversal=args.reversal,
        age=args.age,
        solution=args.solution,
        water_us_cm=args.water_us_cm,
        seed=args.seed,
        events=args.event,
        trace_hz=args.trace_hz,
        want_trace=args.trace is not None,
    )
    return simulate_json(request, args.trace)


def _cmd_schedule(args: argparse.Namespace) -> dict[str, Any]:
    from ionto.clinic.scheduling.solve import schedule_json_for

    return schedule_json_for(read_input(args.file), solver=args.solver, seconds=args.seconds)


def _cmd_reschedule(args: argparse.Namespace) -> dict[str, Any]:
    from ionto.clinic.scheduling.solve import reschedule_json_for

    return reschedule_json_for(read_input(args.file), solver=args.solver, seconds=args.seconds)


def _render_text(command: str, result: dict[str, Any]) -> str:
    from ionto.contract.text import screening_text, verdict_text

    return screening_text(result) if command == "screen" else verdict_text(result)


def _cmd_catalogue(_args: argparse.Namespace) -> dict[str, Any]:
    from ionto.contract.catalogue import catalogue_json

    return catalogue_json()


def _render_markdown(_result: dict[str, Any]) -> str:
    from ionto.contract.catalogue import catalogue_markdown

    return catalogue_markdown()


def _cmd_serve(args: argparse.Namespace) -> int:
    from ionto.clinic import server

    options = server.ServeOptions(
        host=server.parse_host(args.host),
        port=server.parse_port(args.port),
        database=args.database,
        demo=args.demo,
    )
    return server.serve(options)


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    from ionto.clinic import server

    code, report = server.audit_verify(args.database)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return code


def _run_service(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``serve`` and ``audit``: they answer with an exit code; bad options and an unusable
    database are one line on stderr and exit 2 (CONTRACT.md)."""
    from ionto.clinic.server import ServeError

    try:
        return run(args)
    except ServeError as exc:
        print(f"ionto: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="ionto",
        description="Ionto: tap-water iontophoresis for hyperhidrosis. JSON on stdout.",
    )
    parser.add_argument("--version", action="version", version=f"ionto {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)
    commands.required = True

    screen = commands.add_parser("screen", help="screen a patient (FILE or - for stdin)")
    screen.add_argument("file", metavar="FILE")
    screen.add_argument("--text", action="store_true", help="plain text for people, not JSON")
    screen.set_defaults(run=_cmd_screen)

    course = commands.add_parser("course", help="course commands")
    course_commands = course.add_subparsers(
        dest="course_command", metavar="COMMAND", parser_class=_OneLineParser
    )
    course_commands.required = True
    verdict = course_commands.add_parser(
        "verdict", help="judge a recorded trial course (FILE or - for stdin)"
    )
    verdict.add_argument("file", metavar="FILE")
    verdict.add_argument("--text", action="store_true", help="plain text for people, not JSON")
    verdict.set_defaults(run=_cmd_course_verdict)
    course_simulate = course_commands.add_parser(
        "simulate",
        help="virtual patients' whole courses: initial course, then 26 weeks of maintenance",
        description="Simulate the initial course and 26 weeks of home maintenance for N "
        "virtual patients (the sweat-response model, docs/response-model.md) and print "
        "population figures as JSON. Deterministic for a seed.",
    )
    # Values are parsed by ionto.contract.course_simulate, so that a bad one names its option.
    course_simulate.add_argument("--patients", default="1000", metavar="N")
    course_simulate.add_argument("--seed", default="0", metavar="S")
    course_simulate.add_argument(
        "--protocol", metavar="NAME", help="a protocol preset (default: Ionto's for the region)"
    )
    course_simulate.add_argument("--region", default="palms")
    course_simulate.add_argument("--age", default="34", metavar="YEARS")
    course_simulate.add_argument(
        "--maintenance", default="fixed:7", metavar="fixed:N|none|adaptive"
    )
    course_simulate.add_argument(
        "--engine", default="analytic", metavar="analytic|device", help="device: small N only"
    )
    course_simulate.add_argument(
        "--calibration", action="store_true", help="add every calibration target, simulated"
    )
    course_simulate.set_defaults(run=_cmd_course_simulate)

    session = commands.add_parser("session", help="treatment sessions")
    session_commands = session.add_subparsers(
        dest="session_command", metavar="COMMAND", parser_class=_OneLineParser
    )
    session_commands.required = True
    simulate = session_commands.add_parser(
        "simulate", help="run one session on the simulated device and virtual patient"
    )
    # Values are parsed by ionto.contract.session, so that a bad one names its option.
    simulate.add_argument("--region", default="palms")
    simulate.add_argument("--current", metavar="MA")
    simulate.add_argument("--minutes", metavar="M")
    simulate.add_argument("--waveform", metavar="W")
    simulate.add_argument("--reversal", metavar="X")
    simulate.add_argument("--age", default="34", metavar="YEARS")
    simulate.add_argument("--solution", default="tap_water")
    simulate.add_argument("--water-us-cm", default="400", metavar="N")
    simulate.add_argument("--seed", default="0", metavar="N")
    simulate.add_argument("--event", action="append", default=[], metavar="KIND@T[:ARG]")
    simulate.add_argument("--trace", metavar="FILE.csv")
    simulate.add_argument("--trace-hz", default="100", metavar="N")
    simulate.add_argument("--json", action="store_true", default=True, help="(default)")
    simulate.set_defaults(run=_cmd_session_simulate)

    catalogue = commands.add_parser(
        "catalogue", help="every protocol preset, limit and schedule with its source"
    )
    catalogue.add_argument(
        "--markdown", action="store_true", help="the docs page (docs/limits-and-presets.md)"
    )
    catalogue.set_defaults(run=_cmd_catalogue)

    schedule = commands.add_parser(
        "schedule",
        help="book initial courses for funded referrals (FILE or - for stdin)",
        description="Book initial treatment courses for funded referrals into the centre's "
        "chairs and nurses, keeping every course rule. JSON on stdout; bad input: one line "
        "on stderr and exit 2.",
    )
    schedule.add_argument("file", metavar="FILE")
    schedule.add_argument(
        "--solver", choices=["cp-sat", "greedy"], default="cp-sat", help="cp-sat (default)"
    )
    # Parsed by ionto.clinic.scheduling.solve, so that a bad value names its option.
    schedule.add_argument("--seconds", default="10", metavar="S", help="CP-SAT time limit (10)")
    schedule.set_defaults(run=_cmd_schedule)

    reschedule = commands.add_parser(
        "reschedule",
        help="re-plan booked courses after a change, moving as few visits as possible",
        description="Re-plan after a cancellation or a chair out of service: the schedule "
        "input, with 'booked' the previous plan (ionto schedule's appointments, past ones "
        "kept as they are) and the changes ('cancelled_courses', 'cancelled_days', "
        "'out_of_service'). CP-SAT keeps every booked course it can, moves as few visits as "
        "possible, then books waiting referrals into the room freed. JSON on stdout, with "
        "'moved', 'reassigned', 'dropped' and 'added'; bad input: one line on stderr and "
        "exit 2.",
    )
    reschedule.add_argument("file", metavar="FILE")
    reschedule.add_argument(
        "--solver",
        choices=["cp-sat", "repair"],
        default="cp-sat",
        help="cp-sat (default), or the receptionist's repair alone (keep what fits, move the "
        "rest to the nearest free place)",
    )
    # Parsed by ionto.clinic.scheduling.solve, so that a bad value names its option.
    reschedule.add_argument("--seconds", default="10", metavar="S", help="CP-SAT time limit (10)")
    reschedule.set_defaults(run=_cmd_reschedule)

    serve = commands.add_parser(
        "serve",
        help="run the clinic service (web pages, JSON API, simulated stations)",
        description="Run the clinic service: web pages, the JSON API under /api/ (schema at "
        "/api/openapi.json) and one simulated station per chair. Migrates the database on "
        "start. Ctrl-C (SIGINT) or SIGTERM stops it cleanly: running sessions ramp down and "
        "are saved as interrupted. Exit 0 after a clean stop, 2 for bad options or a "
        "database that cannot be opened.",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed a demo centre once (chairs, patients at every stage, the logins admin, "
        "clinician, nurse, reception and patient, all with the password ionto-demo: demo "
        "mode only)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", default="8000", help="port to listen on (8000; 0: any free port)")
    serve.add_argument(
        "--database",
        metavar="URL",
        help="a SQLite path or sqlite:///FILE, or postgresql://user:pass@host:port/db "
        "(default: $IONTO_DATABASE, else ionto.sqlite3 in the current folder)",
    )
    serve.set_defaults(service=_cmd_serve)

    audit = commands.add_parser("audit", help="the audit log of clinical changes")
    audit_commands = audit.add_subparsers(
        dest="audit_command", metavar="COMMAND", parser_class=_OneLineParser
    )
    audit_commands.required = True
    verify = audit_commands.add_parser(
        "verify",
        help="check the audit log's hash chain",
        description="Walk the audit log's hash chain from the first entry and print "
        '{"entries", "ok", "first_bad_id", "problem"} as JSON. Exit 0 when the chain is '
        "intact, 1 when it is broken (an entry was changed, removed or reordered), 2 for "
        "bad input (a database that cannot be opened or holds no audit log).",
    )
    verify.add_argument(
        "--database",
        metavar="URL",
        help="as for serve (default: $IONTO_DATABASE, else ionto.sqlite3 in the current "
        "folder); a SQLite file must exist",
    )
    verify.set_defaults(service=_cmd_audit_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    service: Callable[[argparse.Namespace], int] | None = getattr(args, "service", None)
    if service is not None:
        return _run_service(service, args)
    run: Callable[[argparse.Namespace], dict[str, Any]] = args.run
    try:
        result = run(args)
    except InputError as exc:
        print(f"ionto: error: {exc.one_line()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as exc:
        # A therapy-core dataclass refused a value the schema let through: still bad input.
        print(f"ionto: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        if getattr(args, "markdown", False):
            sys.stdout.write(_render_markdown(result))
        elif getattr(args, "text", False):
            sys.stdout.write(_render_text(args.command, result) + "\n")
        else:
            json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`ionto … | head`): not an error of ours, and no traceback.
        sys.stderr.close()
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
