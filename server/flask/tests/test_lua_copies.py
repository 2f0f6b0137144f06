"""The package's Redis scripts are copies of server/redis/*.lua (the one source for both
languages), made by `make lua-copies`: they must be current."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / "server" / "redis"
COPIES = ROOT / "server" / "flask" / "lifeline_flask" / "stores" / "lua"


def test_the_packaged_lua_scripts_are_current_copies():
    sources = {p.name: p.read_bytes() for p in SOURCE.glob("*.lua")}
    if not sources:
        pytest.skip("server/redis/*.lua not written yet: the package's scripts are its own")
    copies = {p.name: p.read_bytes() for p in COPIES.glob("*.lua")}
    stale = sorted(n for n in sources if copies.get(n) != sources[n])
    assert not stale, f"run `make lua-copies`: stale or missing copies {stale}"
