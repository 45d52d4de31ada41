"""Structure of the SM core (issue 17): the issue-policy registry and the typed state bundles.

* ``test_new_issue_policy_is_one_function_and_one_registry_line`` protects the recipe of docs/core.md:
  adding an issue policy to ``gpusim/core/select.py`` takes one key function and one registry line in
  ``issue_key``.  It writes a copy of select.py with exactly those two additions (an example policy,
  oldest-first without the greedy preference), compiles the copy's ``issue_key`` and checks that the
  new code picks the oldest eligible warp where CGGTY and GTO keep the greedy one.  Checked to fail:
  without the registry line the new code falls through to the default (CGGTY) and keeps the greedy warp.
* ``test_issue_policies_pick_per_mgc`` checks the three registered policies on a hand-made warp set
  (MGC §2.2: CGGTY keeps the greedy warp, else the youngest; GTO the greedy, else the oldest; LRR the
  next slot after the last issued one).  Checked to fail by swapping the CGGTY key's sign.
* ``test_core_bundles_compile_once`` protects the rule that a bundle type compiles once: runs under
  control bits and the scoreboard fallback, with one and two threads, all reuse the one signature of
  ``run_sm`` / ``run_sm_threads`` (a second signature would mean an array of a bundle changed dtype or
  dimensions).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from gpusim.core import select
from gpusim.core.state import new_state

REPO = Path(__file__).resolve().parent.parent

#: the example policy, as a developer would add it to select.py (docs/core.md, "Adding an issue policy")
EXAMPLE_POLICY = '''
@njit(cache=True, _nrt=False, inline="always")
def _key_oldest(W, ws, slot, greedy, ws0, wslots):
    """Oldest first, no greedy preference (an example policy)."""
    return W.age[ws]

'''
EXAMPLE_LINE = "    if policy == 3: return _key_oldest(W, ws, slot, greedy, ws0, wslots)  # noqa: E701\n"
EXAMPLE_CODE = 3


def _warps(ages):
    """A warp bundle of one SM and sub-core with the given launch ages."""
    st = new_state(1, 1, 1, len(ages), True, 1, 1, 1, 1, 1, 0)
    st.warps.age[:] = ages
    return st.warps


def _pick(issue_key, policy, W, greedy):
    keys = [issue_key(policy, W, ws, ws, greedy, 0, W.age.size) for ws in range(W.age.size)]
    return int(np.argmin(keys))   # the lowest key issues; ties go to the lowest slot as in _select


def _load_with_example(tmp_path, registry_line: bool):
    src = (REPO / "gpusim/core/select.py").read_text()
    end = "    # -- end of the issue-policy registry"
    assert "\ndef issue_key(" in src and end in src, "select.py lost the registry markers docs/core.md names"
    at = src.rindex("\n@njit", 0, src.index("\ndef issue_key(")) + 1   # the registry's decorator line
    new = src[:at] + EXAMPLE_POLICY.lstrip("\n") + "\n" + src[at:]
    if registry_line:
        new = new.replace(end, EXAMPLE_LINE + end)
    # the whole change is the function and the line: taking them out gives select.py back
    assert new.count("\n") - src.count("\n") == EXAMPLE_POLICY.lstrip("\n").count("\n") + 1 + registry_line
    assert new.replace(EXAMPLE_POLICY.lstrip("\n") + "\n", "", 1).replace(EXAMPLE_LINE, "", 1) == src
    f = tmp_path / f"select_probe_{int(registry_line)}.py"
    f.write_text(new.replace("cache=True", "cache=False"))   # (no cache files for a throw-away module)
    spec = importlib.util.spec_from_file_location(f.stem, f)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[f.stem] = mod
    spec.loader.exec_module(mod)
    return mod


def test_new_issue_policy_is_one_function_and_one_registry_line(tmp_path):
    W = _warps([5, 2, 9, 7])
    greedy = 2                                   # slot 2 issued last
    mod = _load_with_example(tmp_path, registry_line=True)
    assert _pick(mod.issue_key, EXAMPLE_CODE, W, greedy) == 1    # the oldest (age 2), greedy ignored
    assert _pick(mod.issue_key, 0, W, greedy) == 2               # the registered policies are unchanged
    assert _pick(mod.issue_key, 1, W, greedy) == 2
    # without its registry line the code is unknown to the core: it falls back to CGGTY
    bare = _load_with_example(tmp_path, registry_line=False)
    assert _pick(bare.issue_key, EXAMPLE_CODE, W, greedy) == 2


def test_issue_policies_pick_per_mgc():
    W = _warps([5, 2, 9, 7])
    assert _pick(select.issue_key, 0, W, 2) == 2     # CGGTY: greedy
    assert _pick(select.issue_key, 0, W, -1) == 2    # ... else youngest (age 9)
    assert _pick(select.issue_key, 1, W, 3) == 3     # GTO: greedy
    assert _pick(select.issue_key, 1, W, -1) == 1    # ... else oldest (age 2)
    assert _pick(select.issue_key, 2, W, 1) == 2     # LRR: the slot after the last issued one
    assert _pick(select.issue_key, 2, W, 3) == 0     # ... wrapping around
    assert _pick(select.issue_key, 2, W, -1) == 0


def test_core_bundles_compile_once():
    from gpusim import api
    from gpusim.config import load_config
    from gpusim.core import engine

    trace = REPO / "traces/examples/vecadd-sm86"
    api.simulate(str(trace), load_config("rtx3070"))
    api.simulate(str(trace), load_config("rtx3070", ["subcore.dependence_mode=scoreboard"]))
    api.simulate(str(trace), load_config("rtx3070", ["subcore.dependence_mode=scoreboard"]), threads=2)
    # (one thread runs run_sm, more run run_sm_threads: the same body compiled with prange, issue 19)
    assert len(engine.run_sm.signatures) == 1, engine.run_sm.signatures
    assert len(engine.run_sm_threads.signatures) == 1, engine.run_sm_threads.signatures
