"""`peerguard audit ...`: judge saved runs. Each subcommand parses input, calls `peerguard.audit`, renders.

Registered on the main app by `peerguard.cli`; a new audit subcommand is one more `@audit_app.command()`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from peerguard.audit.signing import generate_keys
from peerguard.audit.verify import verify_run

audit_app = typer.Typer(
    help="Audit saved runs: verify their ledgers, manage signing keys.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(width=None if sys.stdout.isatty() else 160, highlight=False)

TAMPERED_EXIT = 1  # bad input (no such run, a bad key) exits 2 through PeerguardError


@audit_app.command()
def verify(
    run: Annotated[Path, typer.Argument(help="a saved run folder (peerguard run ... --save FOLDER)")],
    key: Annotated[
        Path | None, typer.Option(help="public key to check the run's signature with (from `peerguard audit keygen`)")
    ] = None,
) -> None:
    """Check a saved run's ledger chain, recorded digest and entry count, and signature; exit 1 if tampered."""
    result = verify_run(run, key)
    style = "green" if result.ok else "bold red"
    first, _, rest = str(result).partition("\n")
    word, _, tail = first.partition(":")
    out.print(Text.assemble((word, style), ":" + tail), soft_wrap=True)
    if rest:
        out.print(rest, soft_wrap=True, markup=False)
    if not result.ok:
        raise typer.Exit(TAMPERED_EXIT)


@audit_app.command()
def keygen(
    folder: Annotated[Path, typer.Argument(help="folder for the key pair (created if needed)")],
) -> None:
    """Make an ed25519 key pair for signing runs: a private key (mode 0600) and its public key."""
    keys = generate_keys(folder)
    out.print(f"private key: {keys.private_key} (keep it secret)", soft_wrap=True, markup=False)
    out.print(f"public key:  {keys.public_key}", soft_wrap=True, markup=False)
    out.print(f"fingerprint: {keys.fingerprint}", soft_wrap=True, markup=False)
    out.print(
        f"sign a run:  peerguard run SCENARIO --save RUN --sign-key {keys.private_key}", soft_wrap=True, markup=False
    )
    out.print(f"verify it:   peerguard audit verify RUN --key {keys.public_key}", soft_wrap=True, markup=False)
