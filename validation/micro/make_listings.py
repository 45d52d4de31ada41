"""Writes the MICRO'25 microbenchmark listings of this folder (CuAssembler text, sm_86).

Each listing is what the paper's method runs on the GPU (Huerta et al., MICRO'25 §3): hand-written SASS
with explicit control codes ``[B------:R-:W-:-:S04]`` and two or more ``CS2R Rn, SR_CLOCKLO`` reads
around the region of interest.  ``python validation/micro/make_listings.py`` rewrites them all
(byte-reproducible); the listings are committed so that they can be read and run on their own.

Conventions: parameter 0 (``c[0x0][0x160]``) is a pointer to a zero-filled buffer (``gpusim clock``
passes 16 such pointers); global loads are preceded by a warm-up load of the same line whose result is
waited for, so the timed loads hit in the L1 as the paper's Table 2 / Table 1 loads do.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def c(text: str, s: int = 1, y: bool = False, w: str = "-", r: str = "-", wait: str = "", reuse: str = "") -> str:
    mask = "".join(str(i) if str(i) in wait else "-" for i in range(6))
    pre = f"{reuse}:" if reuse else ""
    return f"    [{pre}B{mask}:R{r}:W{w}:{'Y' if y else '-'}:S{s:02d}]   {text} ;"


CLOCK = "CS2R R{}, SR_CLOCKLO"
EXIT = c("EXIT", 5)
# address of the zero-filled buffer of parameter 0 in R2:R3 (fixed latency, then wait out the stall)
ADDR = [c("IMAD.MOV.U32 R2, RZ, RZ, c[0x0][0x160]", 1), c("IMAD.MOV.U32 R3, RZ, RZ, c[0x0][0x164]", 6)]
# warm the L1 with the line at [R2]: the load's result is waited for (SB5) before the timed region
WARM = ADDR + [c("LDG.E R30, [R2.64]", 2, w="5"), c("NOP", 1, wait="5")]


def write(name: str, comment: str, body: list[str]) -> None:
    head = [f"// {line}" if line else "//" for line in comment.strip().splitlines()]
    head.append("// target: sm_86 (GA102, the paper's RTX A6000); run: gpusim clock <this file> --gpu rtx-a6000 --threads 32")
    text = "\n".join(head + [f".global {name.replace('-', '_')}", *body, EXIT]) + "\n"
    (HERE / f"{name}.cuasm").write_text(text)


def listing2(stall: int) -> None:
    write(f"stall-listing2-s{stall:02d}", f"""
MICRO'25 Listing 2 (§4): a FADD with target stall count {stall} immediately followed by a dependent FFMA,
bracketed by NOPs and two clock reads.  R1..R3 are set to 1.0 first.  Paper: elapsed 5 cycles with stall 1
(and R5 = 2, a wrong result: no hardware RAW check), 8 cycles with stall 4 (R5 = 6).  Rule: 4 + stall.
A count above 11 carries the yield flag, as the compiler always sets it: without it the warp would stall
only 1-2 cycles (§4; listing stall13-no-yield).
""", [c("FADD R1, RZ, 1", 1), c("FADD R2, RZ, 1", 1), c("FADD R3, RZ, 1", 2),
      c(CLOCK.format(14), 1), c("NOP", 1), c("FADD R1, R2, R3", stall, y=stall > 11), c("FFMA R5, R1, R1, R1", 1),
      c("NOP", 1), c(CLOCK.format(24), 1), c("STG.E.64 [R2.64], R24", 1)][:-1])


def listing1(rx: int, ry: int, tag: str) -> None:
    write(f"rf-listing1-{tag}", f"""
MICRO'25 Listing 1 (§3, §5.3): register-file read-port conflicts between two FFMAs.  The first FFMA reads
R10, R12, R14 (all bank 0); the second reads R16, R{rx}, R{ry}.  Banks = register mod 2, one read port
each, 3-cycle read window (Allocate).  Paper: 5 cycles with R_X, R_Y both odd, 6 with one even, 7 with both even.
""", [c(CLOCK.format(0), 1), c("NOP", 1), c("FFMA R11, R10, R12, R14", 1), c(f"FFMA R13, R16, R{rx}, R{ry}", 1),
      c("NOP", 1), c(CLOCK.format(2), 1)])


def main() -> None:
    for s in (1, 2, 4, 8, 15):
        listing2(s)
    listing1(19, 21, "odd-odd")
    listing1(18, 21, "even-odd")
    listing1(18, 20, "even-even")
    # Listing 1 without the trailing NOP: the conflicts do not delay the clock read (§5.1.1)
    write("rf-listing1-even-even-no-nop", """
MICRO'25 §5.1.1: Listing 1 with both operands even but without the NOP after the last FFMA.  Paper: the
register-file port conflicts then do not stall the issue of the second clock read (Allocate holds the
FFMA, but the clock is read in Control, before Allocate).  The paper gives no cycle count for this variant.
""", [c(CLOCK.format(0), 1), c("NOP", 1), c("FFMA R11, R10, R12, R14", 1), c("FFMA R13, R16, R18, R20", 1),
      c(CLOCK.format(2), 1)])
    # reuse flag removes a read of the second FFMA: one bubble fewer than even-even
    write("rf-listing1-even-even-reuse", """
Listing 1 (both operands even) with the first FFMA caching R14 in the register-file cache (reuse flag on
operand slot C) and the second FFMA reading R14 from slot C: one bank-0 read fewer, so one bubble fewer
than rf-listing1-even-even (MICRO'25 §5.3.1: hit = same warp, register and operand slot).  Rule only: the
paper gives no cycle count for this variant.
""", [c(CLOCK.format(0), 1), c("NOP", 1), c("FFMA R11, R10, R12, R14.reuse", 1, reuse="--R-"),
      c("FFMA R13, R16, R18, R14", 1), c("NOP", 1), c(CLOCK.format(2), 1)])
    # same, but the second FFMA reads R14 from slot B: misses (other slot)
    write("rf-listing1-even-even-reuse-other-slot", """
As rf-listing1-even-even-reuse, but the second FFMA reads R14 as operand B: a register-file cache hit
needs the same operand slot (MICRO'25 §5.3.1, Listing 4 example 3), so R14 misses and the two bubbles of
rf-listing1-even-even stay.  Rule only.
""", [c(CLOCK.format(0), 1), c("NOP", 1), c("FFMA R11, R10, R12, R14.reuse", 1, reuse="--R-"),
      c("FFMA R13, R16, R14, R18", 1), c("NOP", 1), c(CLOCK.format(2), 1)])
    # reuse retention (Listing 4 examples 1 and 2) as timing: a third instruction hits only if the 2nd re-sets reuse
    for tag, second in (("dropped", "FFMA R5, R2, R7, R9"), ("retained", "FFMA R5, R2.reuse, R7, R9")):
        write(f"rfc-retention-{tag}", f"""
MICRO'25 Listing 4, example {'1' if tag == 'dropped' else '2'} (§5.3.1) as a timing experiment: IADD3 caches R2
(slot A, bank 0); the FFMA reads R2 from the cache {'without' if tag == 'dropped' else 'with'} setting reuse
again, so the third instruction (R2, R4, R6 + R8 in the next one: all bank 0) {'misses' if tag == 'dropped' else 'hits'}
R2.  A miss costs a bank-0 read and one more bubble.  Rule only: the paper gives hits and misses, no cycles.
""", [c(CLOCK.format(20), 1), c("NOP", 1), c("IADD3 R1, R2.reuse, R3, R5", 1, reuse="R---"),
      c(second, 1, reuse="R---" if tag == "retained" else ""), c("IADD3 R10, R2, R4, R6", 1),
      c("IADD3 R11, R8, R12, R14", 1), c("NOP", 1), c(CLOCK.format(22), 1)])
    # FMUL / FFMA same-bank bubbles over a run of 16 (§5.3: 1 bubble per FMUL, 2 per FFMA in one bank)
    for op, regs, tag in (("FMUL", "R10, R12", "fmul-same-bank"), ("FMUL", "R10, R13", "fmul-diff-bank"),
                          ("FFMA", "R10, R12, R14", "ffma-same-bank"), ("FFMA", "R10, R13, R15", "ffma-mixed-bank")):
        for n in (8, 16):
            write(f"rf-{tag}-x{n}", f"""
MICRO'25 §5.3: {n} independent {op}s whose sources are {regs} ({tag.replace('-', ' ')}), one per cycle if the
read ports allow.  Paper: FMUL with both sources in one bank = 1-cycle bubble, in different banks = none;
FFMA with all three in one bank = 2-cycle bubble.  The x16 and x8 runs differ by 8 instructions in steady
state: (delta x16 - delta x8) / 8 = the issue interval (1 + bubbles).
""", [c(CLOCK.format(0), 1)] + [c(f"{op} R{41 + 2 * k}, {regs}", 1) for k in range(n)] + [c(CLOCK.format(2), 1)])
    write("clock-pair", """
Two clock reads back to back (the first with stall 1): the reads are 1 cycle apart.  The baseline that
the other listings' deltas are taken against when the region's own issue slots must not count.
""", [c(CLOCK.format(0), 1), c(CLOCK.format(2), 1)])
    # yield bit: one bubble when no other warp is ready
    for y in (False, True):
        write(f"yield-{'set' if y else 'clear'}", f"""
MICRO'25 §4 / §5.1.2: Yield {'set' if y else 'clear'} on the first of two NOPs of a single warp.  Paper: with Yield
and no other warp ready, the scheduler leaves a 1-cycle bubble.
""", [c(CLOCK.format(0), 1), c("NOP", 1, y=y), c("NOP", 1), c(CLOCK.format(2), 1)])
    # stall 0 + yield (ERRBAR): 45 cycles
    write("errbar-stall0-yield", """
MICRO'25 §4: ERRBAR encoded with stall 0 and yield: the warp stalls exactly 45 cycles before its next
instruction (HW105).
""", [c(CLOCK.format(0), 1), c("ERRBAR", 0, y=True), c(CLOCK.format(2), 1)])
    # stall counts > 11 without yield: the paper's corner case (1-2 cycles)
    write("stall13-no-yield", """
MICRO'25 §4: a stall count above 11 with Yield clear (never emitted by the compiler) stalls the warp only
1-2 cycles on the hardware.  Written here with stall 13 on a NOP.  The paper gives a range, not a value.
""", [c(CLOCK.format(0), 1), c("NOP", 13), c(CLOCK.format(2), 1)])
    write("stall13-yield", """
A stall count of 13 with Yield set (what the compiler emits): the next instruction issues 13 cycles later
(MICRO'25 §4 rule: the counter counts down one per cycle).
""", [c(CLOCK.format(0), 1), c("NOP", 13, y=True), c(CLOCK.format(2), 1)])
    # independent FP32: one per cycle (Ampere issues FP32 back to back, §5 footnote 1)
    write("issue-independent-fadd-x16", """
MICRO'25 §5.3 footnote: Ampere issues some FP32 instructions in consecutive cycles.  16 independent FADDs
(sources in different banks) with stall 1: one per cycle, so the reads are 17 cycles apart.  Rule only.
""", [c(CLOCK.format(0), 1)] + [c(f"FADD R{41 + 2 * k}, R10, R13", 1) for k in range(16)] + [c(CLOCK.format(2), 1)])
    # dependence-counter visibility: the SB increment is visible one cycle after Control
    for s in (1, 2):
        write(f"sb-visibility-s{s}", f"""
MICRO'25 §4: the dependence-counter increment happens in Control, the cycle after issue, and is visible the
cycle after that.  An LDS setting SB0 with stall {s} followed by a clock read that waits on SB0: with stall 1
the consumer issues before the increment is visible (and does not wait); with stall 2 it waits for the
load (Table 2: LDS 32-bit regular address RAW 24).  No cycle count is published for the stall-1 case.
""", [c("MOV R2, RZ", 2), c(CLOCK.format(20), 1), c("LDS R4, [R2]", s, w="0"), c(CLOCK.format(22), 1, wait="0")])
    # Table 2 load latencies (RAW) timed by clock reads: read, load, consumer read waiting on SB0
    loads = {
        "ldg32-raw": ("LDG.E R4, [R2.64]", True), "ldg64-raw": ("LDG.E.64 R4, [R2.64]", True),
        "ldg128-raw": ("LDG.E.128 R4, [R2.64]", True),
        "lds32-raw": ("LDS R4, [R8]", False), "lds64-raw": ("LDS.64 R4, [R8]", False),
        "lds128-raw": ("LDS.128 R4, [R8]", False), "ldc32-raw": ("LDC R4, c[0x0][0x168]", False),
        "ldc32-reg-raw": ("LDC R4, c[0x0][R8+0x168]", False),
    }
    for tag, (ld, glob) in loads.items():
        pre = WARM if glob else [c("MOV R8, RZ", 6)]
        write(f"mem-{tag}", f"""
MICRO'25 Table 2 (§5.4): RAW/WAW latency of `{ld}` = cycles from its issue to the earliest issue of a
consumer (here: a clock read waiting on its write counter SB0).  The read before the load has stall 1,
so the reads are 1 + latency apart.{' A warm-up load of the same line (waited for) makes the timed load an L1 hit.' if glob else ''}
""", pre + [c(CLOCK.format(20), 1), c(ld, 2, w="0"), c(CLOCK.format(22), 1, wait="0")])
    # uniform-register addresses (one address per warp): Table 2's uniform rows
    UADDR = [c("ULDC.64 UR4, c[0x0][0x160]", 2)]
    UWARM = UADDR + [c("LDG.E R30, [UR4.64]", 2, w="5"), c("NOP", 1, wait="5")]
    for tag, ld, glob in (("ldg32-uniform-raw", "LDG.E R4, [UR4.64]", True),
                          ("ldg128-uniform-raw", "LDG.E.128 R4, [UR4.64]", True),
                          ("lds32-uniform-raw", "LDS R4, [UR5]", False), ("lds128-uniform-raw", "LDS.128 R4, [UR5]", False)):
        pre = UWARM if glob else [c("UMOV UR5, URZ", 6)]
        write(f"mem-{tag}", f"""
MICRO'25 Table 2 (§5.4): RAW/WAW latency of `{ld}` (uniform-register address: one address per warp) =
cycles from its issue to the earliest issue of a consumer (a clock read waiting on SB0).  Reads 1 + latency
apart.{' A warm-up load of the same line (waited for) makes the timed load an L1 hit.' if glob else ''}
""", pre + [c(CLOCK.format(20), 1), c(ld, 2, w="0"), c(CLOCK.format(22), 1, wait="0")])
    write("mem-ldg32-uniform-war", """
MICRO'25 Table 2 (§5.4): WAR latency of `LDG.E R4, [UR4.64]` (uniform address): the clock read into UR4
(S2UR) waits on the load's read counter SB1.  Reads 1 + WAR apart.
""", UWARM + [c(CLOCK.format(20), 1), c("LDG.E R4, [UR4.64]", 2, w="0", r="1"),
              c("S2UR UR4, SR_CLOCKLO", 1, wait="1"), c("NOP", 1, wait="0")])
    # WAR latency: an instruction overwriting the load's address register waits on the read counter
    for tag, ld, glob in (("ldg32-war", "LDG.E R4, [R2.64]", True), ("lds32-war", "LDS R4, [R8]", False)):
        pre = WARM if glob else [c("MOV R8, RZ", 6)]
        write(f"mem-{tag}", f"""
MICRO'25 Table 2 (§5.4): WAR latency of `{ld}` = cycles from its issue until an instruction that overwrites
its address register may issue (the clock read here waits on the load's read counter SB1, then writes
the address register).  Reads 1 + WAR apart.
""", pre + [c(CLOCK.format(20), 1), c(ld, 2, w="0", r="1"),
            c(f"CS2R R{2 if glob else 8}, SR_CLOCKLO", 1, wait="1"), c("NOP", 1, wait="0")])
    # store WAR: the data register may be overwritten once the store has read it (read counter SB1)
    for tag, st, glob in (("stg32-war", "STG.E [R2.64], R4", True), ("sts32-war", "STS [R8], R4", False)):
        pre = ADDR if glob else [c("MOV R8, RZ", 6)]
        write(f"mem-{tag}", f"""
MICRO'25 Table 2 (§5.4): WAR latency of `{st}` = cycles from its issue until an instruction that overwrites
its data register R4 may issue (the clock read waits on the store's read counter SB1 and writes R4).
Reads 1 + WAR apart.
""", pre + [c(CLOCK.format(20), 1), c(st, 2, r="1"), c("CS2R R4, SR_CLOCKLO", 1, wait="1")])
    # L0 fixed-latency constant cache: a constant operand that misses holds the issue (79 cycles, HW102)
    for tag, src in (("miss", "c[0x0][0x170]"), ("baseline", "R7")):
        write(f"const-fl-{tag}", f"""
MICRO'25 §5.1.1 / §5.4: the tag check of a fixed-latency instruction's constant operand happens at issue in
the per-sub-core L0 FL constant cache; a miss holds the issue.  The paper preloads the address through LDC
(which fills the separate L0 VL cache) and measures a 79-cycle issue delay (HW102).  {'The FADD reads ' + src + ': a miss.' if tag == 'miss' else 'Baseline: the same FADD with a register operand.'}
""", [c("LDC R6, c[0x0][0x170]", 2, w="0"), c("NOP", 1, wait="0"), c(CLOCK.format(20), 1),
      c(f"FADD R4, R5, {src}", 1), c(CLOCK.format(22), 1)])
    # Table 1: memory queue depth and issue cadence per sub-core (10 independent L1-hit loads)
    write("memq-ldg-x10", """
MICRO'25 Table 1 (§5.4): each active sub-core's warp issues 10 independent loads that hit (regular
registers), one clock read before and after.  Paper (first load = cycle 2): loads 1-5 issue back to back
(4-entry queue + latch), load 6 at 13, then every 4 cycles with 1-2 active sub-cores (address calculation,
1 per 4 cycles), 6 with 3, 8 with 4 (SM-shared unit, 1 per 2 cycles).  Load 10: 29 / 29,31 / 37,39,41 /
45,47,49,51.  Run with 32 x (active sub-cores) threads: warp w runs on sub-core w.
""", WARM + [c(CLOCK.format(20), 1)] + [c(f"LDG.E R{40 + 2 * k}, [R2.64]", 1) for k in range(10)]
         + [c(CLOCK.format(22), 1)])
    # fixed-latency units: dependent chains as the compiler encodes them (stall = latency)
    chains = {"fmul": ("FMUL R4, R4, R5", 4), "hadd2": ("HADD2 R4, R4, R5", 5), "hfma2": ("HFMA2 R4, R4, R5, R7", 5),
              "imad": ("IMAD R4, R4, R5, R7", 4), "iadd3": ("IADD3 R4, R4, R5, R7", 4)}
    for tag, (ins, s) in chains.items():
        write(f"chain-{tag}-x8", f"""
Dependent chain of 8 `{ins.split()[0]}` with stall {s} each (the stall the compiler encodes for its latency;
MICRO'25 §4-5: FADD/FMUL/FFMA 4, HADD2 5).  The reads are 1 + 8 x {s} apart if nothing but the stall
counter holds the warp.
""", [c(CLOCK.format(20), 1)] + [c(ins, s) for _ in range(8)] + [c(CLOCK.format(22), 1)])
    # variable-latency units: MUFU and conversions through their write counter
    for tag, ins in (("mufu-ex2", "MUFU.EX2 R4, R5"), ("mufu-rcp", "MUFU.RCP R4, R5"), ("i2f", "I2F R4, R5"),
                     ("f2i", "F2I.TRUNC.NTZ R4, R5"), ("f2f", "F2F.F16.F32 R4, R5")):
        write(f"var-{tag}-raw", f"""
`{ins}` (variable latency on GA10x: it sets a write counter) followed by a clock read waiting on it: the
reads are 1 + its issue-to-consumer latency apart.  The paper publishes no latency for this unit (the
released simulator's SFU / conversion values are configuration, not measurements).
""", [c(CLOCK.format(20), 1), c(ins, 2, w="0"), c(CLOCK.format(22), 1, wait="0")])
    # DEPBAR.LE: wait for the first of three LDS sharing SB0 (in-order completion)
    for n in (0, 2):
        write(f"depbar-le-sb0-{n}", f"""
MICRO'25 §4: DEPBAR.LE SB0, {n} after three LDS that all count on SB0 (shared loads complete in order):
the instruction after the DEPBAR waits until SB0 <= {n}, i.e. for {'all three loads' if n == 0 else 'the first load'}.
The DEPBAR carries stall 4 (the paper: it needs >= 4 to hold the next instruction).  No cycle count is
published.
""", [c("MOV R8, RZ", 6), c(CLOCK.format(20), 1), c("LDS R4, [R8]", 1, w="0"), c("LDS R5, [R8+0x80]", 1, w="0"),
      c("LDS R6, [R8+0x100]", 2, w="0"), c(f"DEPBAR.LE SB0, 0x{n}", 4), c(CLOCK.format(22), 1)])
    write("depbar-le-sb0-0-s01", """
As depbar-le-sb0-0 but the DEPBAR.LE carries stall 1.  MICRO'25 §4: the DEPBAR needs a stall count of at
least 4 to hold the next instruction, so on the hardware the clock read may slip past it.  No cycle count
is published (validation/micro/README.md: the model holds it anyway).
""", [c("MOV R8, RZ", 6), c(CLOCK.format(20), 1), c("LDS R4, [R8]", 1, w="0"), c("LDS R5, [R8+0x80]", 1, w="0"),
      c("LDS R6, [R8+0x100]", 2, w="0"), c("DEPBAR.LE SB0, 0x0", 1), c(CLOCK.format(22), 1)])
    # CGGTY across warps of one sub-core (Figure 4): 4 warps in sub-core 0 need 13 warps (0, 4, 8, 12)
    for tag, second in (("plain", c("FADD R11, R10, R13", 1)), ("stall4", c("FADD R11, R10, R13", 4)),
                        ("yield", c("FADD R11, R10, R13", 1, y=True))):
        body = [c("BAR.SYNC.DEFER_BLOCKING 0x0", 6), c(CLOCK.format(20), 1), c("FADD R41, R10, R13", 1), second]
        body += [c(f"FADD R{43 + 2 * k}, R10, R13", 1) for k in range(30)] + [c(CLOCK.format(22), 1)]
        write(f"cggty-figure4-{tag}", f"""
MICRO'25 Figure 4{'abc'[('plain', 'stall4', 'yield').index(tag)]} (§5.1.2): warps of one sub-core each run 32 independent instructions
between two clock reads; {'all control bits zero' if tag == 'plain' else 'the 2nd instruction has stall 4' if tag == 'stall4' else 'the 2nd instruction has Yield'}.
Run with 512 threads: 4 warps per sub-core (warp w on sub-core w mod 4).  A CTA barrier first releases all
warps in the same cycle with their instruction buffers full (the paper's code is not published; without
it the model's fetch, which follows the issuing warp, leaves the other warps' buffers empty at the start).  Paper: greedy then youngest; the 4-warp sub-core timeline takes ~128 cycles (a), ~130 (b), ~128 (c)
(read off the figure).
""", body)


if __name__ == "__main__":
    main()
