/**
 * A multimap from a 32-bit gram to 31-bit codes, in two typed arrays with open addressing (linear
 * probing): adding or removing one pair is a few array writes, with no allocation, no boxed number and
 * nothing for the garbage collector to trace. A Map of numbers to a number or an array did the same job
 * at 0.4-0.8 µs per pair, and a minted credential adds and later removes 25 pairs (its signature's 5
 * forms; issue 21: the egress matcher cost more per call than signing the credential; docs/performance.md).
 *
 * A slot holds one (gram, code) pair; a gram several patterns share takes several slots. A removed pair
 * leaves a tombstone that keeps later slots of its run reachable; tombstones are cleared when the table
 * is rebuilt, which happens once live and dead slots fill MAX_FILL of it (at a size that leaves the live
 * pairs at most MAX_LIVE of it), so probes stay short however many pairs came and went, and once live
 * pairs fill under 1/16 of it, so a table that grew for a burst shrinks after it.
 */
const EMPTY = -1;
const DEAD = -2;
const MIN_BITS = 10;
const MAX_FILL = 0.7;
const MAX_LIVE = 0.4;

export class GramTable {
  private bits = MIN_BITS;
  /** Slot s is pairs[2s] (the gram) and pairs[2s + 1] (the code, or EMPTY or DEAD): one cache line a probe. */
  private pairs = emptySlots(MIN_BITS);
  private live = 0;
  private dead = 0;

  /** Pairs held. */
  get size(): number {
    return this.live;
  }

  /** Slots allocated (each 8 bytes): for tests and memory figures. */
  get capacity(): number {
    return 1 << this.bits;
  }

  add(gram: number, code: number): void {
    if (this.live + this.dead + 1 > MAX_FILL * this.capacity) this.rebuild(this.live + 1);
    const pairs = this.pairs;
    const mask = this.capacity - 1;
    let slot = this.home(gram);
    // A dead slot is as good as an empty one for a new pair: the multimap has no uniqueness to keep.
    while (pairs[2 * slot + 1]! >= 0) slot = (slot + 1) & mask;
    if (pairs[2 * slot + 1] === DEAD) this.dead--;
    pairs[2 * slot] = gram;
    pairs[2 * slot + 1] = code;
    this.live++;
  }

  /** Removes the pair (gram, code); true if it was held. */
  delete(gram: number, code: number): boolean {
    const pairs = this.pairs;
    const mask = this.capacity - 1;
    for (let slot = this.home(gram); pairs[2 * slot + 1] !== EMPTY; slot = (slot + 1) & mask) {
      if (pairs[2 * slot + 1] === code && pairs[2 * slot] === gram) {
        pairs[2 * slot + 1] = DEAD;
        this.live--;
        this.dead++;
        // Most pairs gone (a burst of minted credentials expired): the slots are given back.
        if (this.live < this.capacity >>> 4 && this.bits > MIN_BITS) this.rebuild(this.live);
        return true;
      }
    }
    return false;
  }

  /** The codes held for `gram`, written into `out` from index 0 (reused by the caller); how many. */
  codesOf(gram: number, out: number[]): number {
    const pairs = this.pairs;
    const mask = this.capacity - 1;
    let count = 0;
    for (let slot = this.home(gram); pairs[2 * slot + 1] !== EMPTY; slot = (slot + 1) & mask) {
      const code = pairs[2 * slot + 1]!;
      if (code >= 0 && pairs[2 * slot] === gram) out[count++] = code;
    }
    return count;
  }

  /** Calls `visit` with the gram of every pair held. */
  eachGram(visit: (gram: number) => void): void {
    const pairs = this.pairs;
    for (let at = 0; at < pairs.length; at += 2) if (pairs[at + 1]! >= 0) visit(pairs[at]!);
  }

  private home(gram: number): number {
    return Math.imul(gram, 0x9e3779b1) >>> (32 - this.bits);
  }

  /** Re-inserts the live pairs into a table sized for `live` of them: no tombstones left. */
  private rebuild(live: number): void {
    let bits = MIN_BITS;
    while (live > MAX_LIVE * (1 << bits)) bits++;
    const old = this.pairs;
    this.bits = bits;
    this.pairs = emptySlots(bits);
    this.live = 0;
    this.dead = 0;
    for (let at = 0; at < old.length; at += 2) if (old[at + 1]! >= 0) this.add(old[at]!, old[at + 1]!);
  }
}

function emptySlots(bits: number): Int32Array {
  const pairs = new Int32Array(2 << bits);
  for (let at = 1; at < pairs.length; at += 2) pairs[at] = EMPTY;
  return pairs;
}
